"""A scripted day of chats for the statistics tests, and the counts it must give.

Real participants (``ParticipantClient``) talk through a real relay with a real
``ConsoleNode`` whose workflow clock is a ``ManualClock`` the script moves: waits,
claims, transfers, an escalation, a duress signal, a failed code-word check, a message
that fails verification, conversations ended by the participant, by staff, by
inactivity and one turned away while the line is closed, and answers to the optional
questions. :data:`EXPECTED` is what the statistics must say afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from client_sdk import ParticipantClient, store
from client_sdk import events as ev
from client_sdk.workflow.clock import ManualClock
from console.stat_report import HIDDEN
from console.statistics import METRICS
from console.timeline import DURESS_TEXT
from e2ee import payload as pl
from e2ee.encoding import b64u_encode

TIMEOUT = 20.0
QUESTIONS = [
    {"id": "age", "text": "How old are you?", "why": "To plan services for every age."},
    {"id": "area", "text": "Which area do you live in?", "why": "To know where to reach."},
]
AGE_ANSWERS = ["under 18", "18-24", "25-44", "45 and over"]

# (metric, bucket) -> count, for every counter the day moves ("arrived" is added by hour).
EXPECTED: dict[tuple[str, str], int] = {
    ("conversations", "all"): 6,
    ("waited", "1-5"): 2,
    ("waited", "<1"): 1,
    ("waited", "15-30"): 1,
    ("waited", "not_answered"): 1,
    ("length", "15-30"): 1,
    ("length", "<5"): 3,
    ("length", "30-60"): 1,
    ("length", "60-120"): 1,
    ("ended_by", "staff"): 2,
    ("ended_by", "participant"): 2,
    ("ended_by", "inactivity"): 1,
    ("ended_by", "closed"): 1,
    ("transfers", "transfer"): 2,
    ("transfers", "escalation"): 1,
    ("duress", "signal"): 1,
    ("code_word", "does_not_match"): 1,
    ("code_word", "matches"): 1,
    ("verification", "failed"): 1,
    ("answers/age", "18-24"): 2,
    ("answers/age", "under 18"): 1,
    ("answers/age", "other"): 1,
    ("answers/area", "answered"): 1,
}


def zone_for_mid_morning(now: datetime) -> str:
    """An ``Etc/GMT`` zone where ``now`` is about 10:00, so the day's ~2.5 hours of
    script stay in one local day whatever time the test runs."""
    offset = (10 - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def set_profile(node: Any, zone: str) -> None:
    """The program's stored profile: questions and always-open hours in ``zone``."""
    ks = node.program.keystore
    content = store.get_json(ks, store.PROFILE_CONTENT) or {}
    content["questions"] = QUESTIONS
    content["hours"] = {
        "timezone": zone,
        "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
    }
    store.put_json(ks, store.PROFILE_CONTENT, content)


async def until(check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def drain(node: Any) -> None:
    """Every event the node has put out is handled (counted) before the clock moves."""
    await asyncio.sleep(0)
    await until(lambda: node.program._events._queue.empty())
    await asyncio.sleep(0)


class Day:
    """Runs the script on ``node`` (its workflow clock must be ``clock``)."""

    def __init__(self, node: Any, relay_url: str, program_id: str, identity_key: str,
                 clock: ManualClock, staff: dict[str, Any]) -> None:  # fmt: skip
        self.node, self.clock, self.staff = node, clock, staff
        self.relay_url, self.program_id, self.identity_key = relay_url, program_id, identity_key
        self.arrived: Counter[str] = Counter()  # local hour -> conversations
        self.participants: list[ParticipantClient] = []

    def local_hour(self) -> str:
        zone = self.node.statistics.stats.day_zone()
        return f"{self.clock.now().astimezone(zone).hour:02d}"

    async def advance(self, **parts: float) -> None:
        await drain(self.node)
        self.clock.advance(timedelta(**parts))

    async def arrive(self, *, turned_away: bool = False) -> tuple[ParticipantClient, str]:
        p = await ParticipantClient.connect(self.relay_url, self.program_id, self.identity_key)
        self.participants.append(p)
        cid = str(p.conversation_id)
        self.arrived[self.local_hour()] += 1
        if turned_away:  # the node opens and closes it at once: the participant is told
            await asyncio.wait_for(_closed(p), TIMEOUT)
            await until(lambda: cid not in self.node._timelines)
        else:
            await until(lambda: cid in self.node._timelines)
        await drain(self.node)
        return p, cid

    async def answers(self, p: ParticipantClient, cid: str, answers: dict[str, str]) -> None:
        await p.send_answers(answers)
        await until(lambda: any(e["notice_kind"] == "answers" for e in self._entries(cid)))
        await drain(self.node)

    def _entries(self, cid: str) -> list[dict[str, Any]]:
        timeline = self.node._timelines.get(cid)
        return [] if timeline is None else [dict(e) for e in timeline.entries]

    def _checks(self, cid: str) -> int:
        return sum(e["text"].startswith("Code word check") for e in self._entries(cid))

    async def left(self, p: ParticipantClient, cid: str) -> None:
        await p.close()
        await until(lambda: cid not in self.node._timelines)
        await drain(self.node)

    async def tampered(self, p: ParticipantClient, cid: str) -> None:
        """What a relay that changed a message would deliver: one byte flipped."""
        count = len(self._entries(cid))
        p._session, sealed = p._session.encrypt(pl.Text("changed", 0), random=p._random)
        raw = bytearray(sealed)
        raw[-1] ^= 0x01
        await p._http.post_messages(cid, p._token, [b64u_encode(bytes(raw))])
        marker = "verification_failed"
        await until(lambda: any(e.get("marker") == marker for e in self._entries(cid)))
        await drain(self.node)
        assert len(self._entries(cid)) == count + 1

    async def run(self) -> dict[tuple[str, str], int]:
        node, s = self.node, self.staff
        sam, ali, kim = s["Sam"], s["Ali"], s["Kim"]
        for member in (sam, ali, kim):
            await node.go_on_shift(member)
        await node.program.set_code_word("main", "lighthouse")

        # 1: waits 3 min, Sam answers, transfers to Ali, who ends it after 23 min
        p1, c1 = await self.arrive()
        await self.answers(p1, c1, {"age": "18-24", "area": "North"})
        await self.advance(minutes=3)
        await node.claim(sam, c1)
        await node.transfer(sam, c1, ali.staff_id)
        await self.advance(minutes=20)
        await node.end(ali, c1)
        await drain(node)

        # 2: answered at once, escalated, a duress signal (pressed twice), the participant leaves
        p2, c2 = await self.arrive()
        await self.answers(p2, c2, {"age": "  UNDER   18 "})
        await self.advance(seconds=30)
        await node.claim(sam, c2)
        await node.escalate(sam, c2)
        for _ in range(2):
            await p2.send_duress()
        await until(lambda: sum(e["text"] == DURESS_TEXT for e in self._entries(c2)) == 2)
        await self.advance(minutes=4)
        await self.left(p2, c2)

        # 3: waits 20 min; a wrong code word, then the right one; silence closes it
        p3, c3 = await self.arrive()
        await self.advance(minutes=19, seconds=30)
        await node.claim(ali, c3)
        for checks, word in enumerate(("wrong guess", "lighthouse"), start=1):
            await node.ask_code_word(ali, c3, "main")
            await p3.answer_code_word("main", word)
            await until(lambda n=checks: self._checks(c3) == n)
        await self.advance(seconds=30)  # the participant's last word is before Ali's
        await node.send(ali, c3, "Are you still there?")
        await self.advance(minutes=10)
        await node.program.tick()  # the inactivity notice
        await self.advance(minutes=5)
        await node.program.tick()  # the close
        await until(lambda: c3 not in node._timelines)
        await drain(node)

        # 4: an answer not on the list and a question the profile does not ask; leaves unanswered
        p4, c4 = await self.arrive()
        await self.answers(p4, c4, {"age": "banana", "shoe_size": "44"})
        await self.advance(minutes=2)
        await self.left(p4, c4)

        # 5: answers sent twice count once; a tampered message; Kim to Sam; ended at 71 min
        p5, c5 = await self.arrive()
        await self.answers(p5, c5, {"age": "18-24"})
        await p5.send_answers({"age": "18-24"})
        await until(lambda: sum(e["notice_kind"] == "answers" for e in self._entries(c5)) == 2)
        await self.advance(minutes=1)
        await node.claim(kim, c5)
        await self.tampered(p5, c5)
        await node.transfer(kim, c5, sam.staff_id)
        await self.advance(minutes=70)
        await node.end(sam, c5)
        await drain(node)

        # 6: the line is closed by hand: turned away when it arrives
        await node.program.set_status("closed", "Closed for a staff meeting.")
        await self.arrive(turned_away=True)
        await node.program.set_status(None)
        for p in self.participants:
            with contextlib.suppress(Exception):
                await p.aclose()
        expected = dict(EXPECTED)
        for hour, n in self.arrived.items():
            expected[("arrived", hour)] = n
        return expected


async def _closed(p: ParticipantClient) -> None:
    async for event in p.events():
        if isinstance(event, ev.ConversationClosedEvent):
            return


def shown(raw: int, threshold: int) -> str:
    """How a raw count must be shown (alone)."""
    return f"fewer than {threshold}" if 0 < raw < threshold else str(raw)


def _order(metric: str, bucket: str) -> tuple[int, ...]:
    if metric == "arrived":
        return tuple(int(x) for x in bucket.split("/"))
    if metric == "answers/age":
        return ([*AGE_ANSWERS, "other"].index(bucket),)
    return ([b for b, _ in METRICS[metric][1]].index(bucket),) if metric in METRICS else (0,)


def expected_texts(
    counts: dict[tuple[str, str], int], threshold: int
) -> dict[tuple[str, str], str]:
    """What a report must say for ``counts`` (``arrived`` keyed ``weekday/hour``): small
    counts as "fewer than N"; a metric hiding exactly one count hides its smallest other
    count too (ties: the first in the report's order)."""
    out = {key: shown(n, threshold) for key, n in counts.items()}
    for metric in {m for m, _ in counts} - {"conversations"}:
        keys = sorted((k for k in counts if k[0] == metric), key=lambda k: _order(*k))
        small = [k for k in keys if 0 < counts[k] < threshold]
        others = [k for k in keys if counts[k] >= threshold]
        if len(small) == 1 and others:
            out[min(others, key=lambda k: counts[k])] = HIDDEN
    return out


def cells(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(metric, bucket) -> text of a report; ``arrived`` summed back to the hour of day."""
    out: dict[tuple[str, str], str] = {}
    for metric in report["metrics"]:
        for row in metric["rows"]:
            out[(metric["metric"], row["bucket"])] = row["text"]
    return out
