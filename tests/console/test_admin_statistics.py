"""Statistics (console/statistics.py, stat_events.py, stat_report.py, admin/statistics.py):
a scripted day of chats through a real relay and a real ConsoleNode (ManualClock) gives
the expected counts in ``stats.show`` and ``stats.csv``, small counts suppressed; no
stored statistic can be joined to another or to a conversation; periods, threshold and
counted answers refuse bad input in plain words."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from node_process import run_node, wait_log
from relay_process import RelayProcess, free_port
from stat_day import (
    AGE_ANSWERS,
    QUESTIONS,
    Day,
    cells,
    expected_texts,
    until,
    zone_for_mid_morning,
)

from client_sdk import events as ev
from client_sdk.keystore import Keystore
from client_sdk.workflow.clock import ManualClock
from console.accounts import StaffAccounts
from console.admin import AdminContext, call, control, load_operations
from console.errors import Forbidden, NotAllowed
from console.node import ConsoleNode
from console.settings import ConsoleSettings
from console.stat_events import EventCounter
from console.statistics import METRICS, PREFIX, Statistics, StatSettings

PASSPHRASE = "correct horse battery staple (test only)"
ROOT = Path(__file__).resolve().parents[2]
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
ROLES = {"Sam": "worker", "Ali": "worker", "Kim": "supervisor", "Ada": "admin"}
pytestmark = pytest.mark.slow


@dataclass
class Enrolled:
    keystore: Path
    program_id: str
    identity_key: str
    relay_url: str
    zone: str


def enroll(relay: RelayProcess, tmp: Path, zone: str) -> Enrolled:
    profile = {
        "name": "Harbour Support Line",
        "questions": QUESTIONS,
        "hours": {
            "timezone": zone,
            "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
        },
    }
    keystore = tmp / "program.qlks"
    (tmp / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable, "-m", "quietline", "program", "init",
            "--keystore", str(keystore), "--relay", relay.url,
            f"--enrollment-token={relay.add_program()}", "--profile", str(tmp / "profile.json"),
            "--json",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env=dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    with Keystore.open(keystore, PASSPHRASE) as ks:
        accounts = StaffAccounts(ks, hasher=FAST)
        for name, role in ROLES.items():
            accounts.add(name, role, f"{name}'s password, long enough")
        ks.save()
    return Enrolled(keystore, out["program_id"], out["identity_key"], relay.url, zone)


@dataclass
class Ran:
    program: Enrolled
    node: ConsoleNode
    clock: ManualClock
    expected: dict[tuple[str, str], int]
    conversations: set[str]  # every conversation id of the day
    staff_ids: set[str]


@pytest.fixture
async def day(relay: RelayProcess, tmp_path: Path) -> AsyncIterator[Ran]:
    load_operations()
    now = datetime.now(UTC).replace(microsecond=0)
    program = enroll(relay, tmp_path, zone_for_mid_morning(now))
    clock = ManualClock(now)
    node = await ConsoleNode.open(
        program.keystore, PASSPHRASE, ConsoleSettings(port=0), hasher=FAST,
        clock=clock, auto_tick=False,
    )  # fmt: skip
    try:
        await call(
            AdminContext.for_node(node, None), "stats.settings", {"answers": {"age": AGE_ANSWERS}}
        )
        staff = {a.name: a for a in node.accounts.list()}
        script = Day(
            node, program.relay_url, program.program_id, program.identity_key, clock, staff
        )
        expected = await script.run()
        cids = {str(p.conversation_id) for p in script.participants}
        staff_ids = {a.staff_id for a in staff.values()}
        yield Ran(program, node, clock, expected, cids, staff_ids)
    finally:
        await node.aclose()


def _expected_cells(ran: Ran, threshold: int) -> dict[tuple[str, str], str]:
    today = ran.clock.now().astimezone(ZoneInfo(ran.program.zone)).date()
    counts: dict[tuple[str, str], int] = {}
    for (metric, bucket), n in ran.expected.items():
        if metric == "arrived":
            bucket = f"{today.weekday()}/{bucket}"
        counts[(metric, bucket)] = n
    return expected_texts(counts, threshold)


def _check(report: dict[str, Any], ran: Ran, threshold: int) -> None:
    got = cells(report)
    want = _expected_cells(ran, threshold)
    for key, text in want.items():
        assert got.get(key) == text, (key, got.get(key), text)
    for key, text in got.items():  # everything the day did not move is zero
        if key not in want:
            assert text == "0", (key, text)
    assert report["threshold"] == threshold


async def test_a_scripted_day_gives_the_expected_counts(day: Ran) -> None:
    load_operations()
    admin = AdminContext.for_node(day.node, None)
    report = await call(admin, "stats.show", {"days": 7})
    _check(report, day, 5)
    assert cells(report)[("conversations", "all")] == "6"  # 5 or more: the number
    assert cells(report)[("ended_by", "staff")] == "fewer than 5"
    # no suppressed cell carries its number anywhere in the answer
    for metric in report["metrics"]:
        for row in metric["rows"]:
            if row["suppressed"]:
                assert row["count"] is None and set(row) == {
                    "bucket", "label", "count", "text", "suppressed",
                }  # fmt: skip

    changed = await call(admin, "stats.settings", {"threshold": 2})
    assert changed["threshold"] == 2
    today = day.clock.now().astimezone(ZoneInfo(day.program.zone)).date()
    report = await call(admin, "stats.show", {"from": today.isoformat(), "to": today.isoformat()})
    _check(report, day, 2)
    assert cells(report)[("ended_by", "staff")] == "2"
    assert cells(report)[("ended_by", "inactivity")] == "fewer than 2"
    # one small count alone in a metric: the smallest other is hidden too (not "2")
    assert cells(report)[("transfers", "escalation")] == "fewer than 2"
    assert cells(report)[("transfers", "transfer")].startswith("not shown")

    exported = await call(admin, "stats.csv", {"days": 30})
    assert exported["filename"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(exported["csv"])))
    by_key = {(r["metric"], r["bucket"]): r["count"] for r in rows}
    for key, text in _expected_cells(day, 2).items():
        assert by_key[key] == text
    assert {r["from"] for r in rows} == {(today - timedelta(days=29)).isoformat()}

    # a day with nothing: zeros everywhere
    empty = await call(admin, "stats.show", {"from": "2020-01-01", "to": "2020-01-31"})
    assert {r["text"] for m in empty["metrics"] for r in m["rows"]} == {"0"}

    # a support worker may not read statistics; a supervisor may, but not change them
    sam = next(a for a in day.node.accounts.list() if a.name == "Sam")
    kim = next(a for a in day.node.accounts.list() if a.name == "Kim")
    with pytest.raises(Forbidden):
        await call(AdminContext.for_node(day.node, sam), "stats.show", {})
    assert (await call(AdminContext.for_node(day.node, kim), "stats.show", {}))["days"] == 7
    with pytest.raises(Forbidden):
        await call(AdminContext.for_node(day.node, kim), "stats.settings", {"threshold": 3})


async def test_no_stored_statistic_can_be_joined(day: Ran) -> None:
    await day.node.aclose()
    iso_day = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    finer = re.compile(r"\d{1,2}:\d{2}|T\d{2}|\d{10}")
    buckets = {m: {b for b, _ in rows} for m, (_t, rows) in METRICS.items()}
    with Keystore.open(day.program.keystore, PASSPHRASE) as ks:
        names = ks.names(PREFIX)
        assert names, "the day left counters"
        for name in names:
            value = ks.get(name)
            assert value is not None and re.fullmatch(rb"[1-9][0-9]*", value), value
            when, metric, bucket = json.loads(name[len(PREFIX) :])
            assert iso_day.match(when)  # a day, nothing finer
            if metric.startswith("answers/"):
                assert metric in {"answers/age", "answers/area"}
                assert bucket in {*AGE_ANSWERS, "other", "answered"}
            else:
                assert bucket in buckets[metric], (metric, bucket)
            assert not finer.search(bucket) or metric == "arrived"
        # nothing anywhere in the keystore names a conversation of the day (all closed);
        # no statistic names a staff member
        for name in ks.names():
            text = name + (ks.get(name) or b"").decode("utf-8", "replace")
            assert not any(cid in text for cid in day.conversations), name
            if name.startswith((PREFIX, "settings/statistics")):
                assert not any(staff_id in text for staff_id in day.staff_ids), name
        # the participant's own words are not kept: "banana", "North", "44"
        for name in names:
            assert not re.search("banana|north|shoe|44", name, re.IGNORECASE)


def test_two_conversations_only_increment_independent_counters(tmp_path: Path) -> None:
    """Pure: every event adds one to counters that hold only a count; two conversations
    with different answers leave no record that ties an answer to anything else."""
    from client_sdk.keystore import Argon2Params, weak_argon2_for_tests

    with weak_argon2_for_tests():
        ks = Keystore.create(
            tmp_path / "k.qlks", "a long enough passphrase for tests 123",
            params=Argon2Params(1, 8, 1),
        )  # fmt: skip
    try:
        ks.put("profile/content", json.dumps({"questions": QUESTIONS}).encode())
        stats = Statistics(ks)
        stats.set_settings(StatSettings(5, {"age": tuple(AGE_ANSWERS)}))
        counter = EventCounter(stats)
        t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

        def snapshot() -> dict[str, int]:
            return {n: int(ks.get(n) or b"0") for n in ks.names(PREFIX)}

        seen: list[dict[str, int]] = [snapshot()]
        for i, (cid, age) in enumerate((("conv-AAAA", "18-24"), ("conv-BBBB", "45 and over"))):
            start = t0 + timedelta(hours=i)
            counter.on_event(ev.NewConversation(cid), start)
            counter.on_event(ev.Answers(cid, {"age": age, "area": f"street {i}"}), start)
            counter.on_event(ev.Assigned(cid, "staff-XYZ"), start + timedelta(minutes=2))
            counter.on_event(
                ev.ConversationClosedEvent(cid, "self", "inactivity"), start + timedelta(minutes=20)
            )
            after = snapshot()
            before = seen[-1]
            for name, count in after.items():  # each counter only ever goes up by one
                assert count - before.get(name, 0) in (0, 1)
                assert cid not in name and "staff-XYZ" not in name and "street" not in name
            seen.append(after)
        final = seen[-1]
        assert final[PREFIX + '["2026-03-02","answers/area","answered"]'] == 2
        assert final[PREFIX + '["2026-03-02","answers/age","18-24"]'] == 1
        assert final[PREFIX + '["2026-03-02","answers/age","45 and over"]'] == 1
        assert final[PREFIX + '["2026-03-02","ended_by","inactivity"]'] == 2
        assert final[PREFIX + '["2026-03-02","waited","1-5"]'] == 2
        assert final[PREFIX + '["2026-03-02","length","15-30"]'] == 2
        assert repr(counter) == "EventCounter(0 open)"  # start times went with them
    finally:
        ks.close()


def test_periods_and_settings_refuse_bad_input(tmp_path: Path) -> None:
    from console.statistics import check_choices, check_threshold, period

    today = date(2026, 12, 7)
    assert period({}, today) == (date(2026, 12, 1), today)
    assert period({"days": 30}, today) == (date(2026, 11, 8), today)
    assert period({"from": "2026-01-01", "to": "2026-01-31"}, today)[1] == date(2026, 1, 31)
    for bad, words in (
        ({"days": 0}, "days"),
        ({"days": "7"}, "days"),
        ({"days": True}, "days"),
        ({"days": 400}, "days"),
        ({"days": 7, "from": "2026-01-01"}, "either"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "not a date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "after"),
        ({"from": "2026-01-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most"),
    ):
        with pytest.raises(NotAllowed, match=words):
            period(bad, today)
    for bad in (0, 1, 101, -3, "5", 2.5, True, None):
        with pytest.raises(NotAllowed, match="threshold"):
            check_threshold(bad)
    assert check_threshold(2) == 2
    with pytest.raises(NotAllowed, match="question ids"):
        check_choices("nope", ["a"], ["age"])
    with pytest.raises(NotAllowed, match="twice"):
        check_choices("age", ["A", "a "], ["age"])
    with pytest.raises(NotAllowed, match="reserved"):
        check_choices("age", ["Other"], ["age"])
    with pytest.raises(NotAllowed, match="non-empty"):
        check_choices("age", [" "], ["age"])
    settings = StatSettings(5, {"age": ("Under 18", "18-24")})
    assert settings.answer_bucket("age", "  under   18") == "Under 18"
    assert settings.answer_bucket("age", "UNDER 18") == "Under 18"
    assert settings.answer_bucket("age", "my name is Jo") == "other"
    assert settings.answer_bucket("area", "anything") == "answered"


def quietline(*argv: str, passphrase: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QUIETLINE_PASSPHRASE"}
    if passphrase:
        env["QUIETLINE_PASSPHRASE"] = PASSPHRASE
    return subprocess.run(
        [sys.executable, "-m", "quietline", "program", *argv],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def _cli_checks(ran: Ran, tmp: Path, *, running: bool) -> None:
    """Every stats command, good and bad, stopped or through the running node."""
    ks = ("--keystore", str(ran.program.keystore))
    today = ran.clock.now().astimezone(ZoneInfo(ran.program.zone)).date().isoformat()
    one_day = ("--from", today, "--to", today)
    pp = not running  # no passphrase is needed (nor available) while the node runs

    out = quietline("stats", "threshold", "5", *ks, passphrase=pp)
    assert out.returncode == 0 and "fewer than 5" in out.stdout, out.stderr
    out = quietline("stats", *one_day, "--json", *ks, passphrase=pp)
    assert out.returncode == 0, out.stderr
    _check(json.loads(out.stdout), ran, 5)

    out = quietline("stats", *one_day, *ks, passphrase=pp)
    assert out.returncode == 0, out.stderr
    assert "  conversations that started: 6\n" in out.stdout
    assert "  a support worker: fewer than 5\n" in out.stdout
    assert "Counts below 5 show as 'fewer than 5'" in out.stdout

    out = quietline("stats", "threshold", "2", *ks, passphrase=pp)
    assert out.returncode == 0 and "fewer than 2" in out.stdout, out.stderr
    assert quietline("stats", "threshold", *ks, passphrase=pp).stdout == "threshold 2\n"
    target = tmp / f"stats-{running}.csv"
    out = quietline("stats", *one_day, "--csv", str(target), *ks, passphrase=pp)
    assert out.returncode == 0 and target.exists(), out.stderr
    assert (target.stat().st_mode & 0o777) == 0o600
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    got = {(r["metric"], r["bucket"]): r["count"] for r in rows}
    for key, text in _expected_cells(ran, 2).items():
        assert got[key] == text, key
    out = quietline("stats", "--days", "7", "--csv", "-", *ks, passphrase=pp)
    assert out.returncode == 0 and out.stdout.startswith("from,to,metric,title,bucket,label,count")

    out = quietline("stats", "answers", "area", "North", "South", *ks, passphrase=pp)
    assert out.returncode == 0 and "counting North, South" in out.stdout, out.stderr
    out = quietline("stats", "answers", "area", *ks, passphrase=pp)
    assert out.returncode == 0 and "only that it was answered" in out.stdout

    for argv, words in (
        (("--days", "0"), "days: give a whole number"),
        (("--days", "7", "--from", today), "either days"),
        (("--from", "2026-13-01", "--to", today), "is not a date"),
        (("--from", today), "to: give a date"),
        (("--from", today, "--to", "2000-01-01"), "comes after"),
        (("threshold", "abc"), "'abc' is not a whole number"),
        (("threshold", "1"), "threshold: 1 is not allowed"),
        (("threshold", "101"), "threshold: 101 is not allowed"),
        (("threshold", "2", "3"), "give one number"),
        (("threshold", "3", "--days", "7"), "go with `stats`"),
        (("answers",), "give the question's id"),
        (("answers", "shoe_size", "44"), "not one of the profile's question ids"),
        (("answers", "age", "other"), "reserved word"),
        (("show", "extra"), "unexpected 'extra'"),
    ):
        out = quietline("stats", *argv, *ks, passphrase=pp)
        assert out.returncode == 1, (argv, out.stdout, out.stderr)
        assert out.stderr.startswith("quietline program stats: ") and words in out.stderr, (
            argv, out.stderr,
        )  # fmt: skip
    for argv in (("bogus",), ("--csv", "x.csv", "--json"), ("--days", "seven")):
        assert quietline("stats", *argv, *ks, passphrase=pp).returncode == 2
    # the threshold refused above was not changed
    assert quietline("stats", "threshold", *ks, passphrase=pp).stdout == "threshold 2\n"
    quietline("stats", "threshold", "5", *ks, passphrase=pp)


async def test_every_stats_command_stopped_and_running(day: Ran, tmp_path: Path) -> None:
    await day.node.aclose()
    await asyncio.to_thread(_cli_checks, day, tmp_path, running=False)
    wrong = quietline("stats", "--keystore", str(day.program.keystore), passphrase=False)
    assert wrong.returncode == 1 and "quietline program stats:" in wrong.stderr

    port, log = free_port(), tmp_path / "node.log"
    node = await run_node(day.program.keystore, port, log)
    try:
        await wait_log(log, "console ready at", node)
        path = control.control_path(day.program.keystore)
        await until(path.exists)
        await asyncio.to_thread(_cli_checks, day, tmp_path, running=True)
    finally:
        if node.returncode is None:
            node.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(node.wait(), 30) == 0


def test_csv_cells_never_run_as_formulas_and_a_lone_small_count_is_covered() -> None:
    from console.stat_report import HIDDEN, _metric, to_csv

    totals = {("answers/q", "=HYPERLINK(1)"): 9, ("answers/q", "+1"): 1, ("answers/q", "b"): 7}
    buckets = [("=HYPERLINK(1)", "=HYPERLINK(1)"), ("+1", "+1"), ("b", "b")]
    metric = _metric("answers/q", "@title", buckets, totals, 5)
    texts = [r["text"] for r in metric["rows"]]
    assert texts == ["9", "fewer than 5", HIDDEN]  # the 7 is hidden with the lone 1
    assert all(r["count"] is None for r in metric["rows"][1:])
    out = to_csv({"from": "2026-01-01", "to": "2026-01-02", "metrics": [metric]})
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[1][3] == "'@title" and rows[1][4] == "'=HYPERLINK(1)" and rows[2][5] == "'+1"
    assert "7" not in out.replace("2026-01-0", "")


async def test_a_restart_keeps_counting_an_open_conversation(
    relay: RelayProcess, tmp_path: Path
) -> None:
    """The start time of a conversation open across a restart comes from the workflow's
    own sealed record of it: its wait and length still land in the right buckets."""
    from client_sdk import ParticipantClient

    load_operations()
    now = datetime.now(UTC).replace(microsecond=0)
    program = enroll(relay, tmp_path, zone_for_mid_morning(now))
    clock = ManualClock(now)

    async def open_node() -> ConsoleNode:
        return await ConsoleNode.open(
            program.keystore, PASSPHRASE, ConsoleSettings(port=0), hasher=FAST,
            clock=clock, auto_tick=False,
        )  # fmt: skip

    node = await open_node()
    try:
        async with await ParticipantClient.connect(
            program.relay_url, program.program_id, program.identity_key
        ) as participant:
            cid = str(participant.conversation_id)
            await until(lambda: cid in node._timelines)
            await node.aclose()
            clock.advance(minutes=7)  # waiting while the node is down
            node = await open_node()
            sam = next(a for a in node.accounts.list() if a.name == "Sam")
            await node.go_on_shift(sam)
            await node.claim(sam, cid)
            clock.advance(minutes=10)
            await node.end(sam, cid)
            await until(lambda: cid not in node._timelines)
        await call(AdminContext.for_node(node, None), "stats.settings", {"threshold": 2})
        got = cells(await call(AdminContext.for_node(node, None), "stats.show", {"days": 1}))
        assert got[("waited", "5-15")] == "fewer than 2"  # 7 minutes: not "<1" from the restart
        assert got[("length", "15-30")] == "fewer than 2"  # 17 minutes
        assert got[("ended_by", "staff")] == "fewer than 2"
        raw = node.statistics.stats.totals(date.min, date.max)
        assert raw[("waited", "5-15")] == 1 and raw[("length", "15-30")] == 1
    finally:
        await node.aclose()


def test_a_counter_that_cannot_be_written_never_stops_the_console(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from client_sdk.keystore import Argon2Params, weak_argon2_for_tests

    with weak_argon2_for_tests():
        ks = Keystore.create(
            tmp_path / "k.qlks", "a long enough passphrase for tests 123",
            params=Argon2Params(1, 8, 1),
        )  # fmt: skip
    counter = EventCounter(Statistics(ks))
    ks.close()  # every read and write now fails
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    counter.resume("conv-1", now, answered=False)
    counter.on_event(ev.NewConversation("conv-2"), now)
    counter.on_event(ev.Answers("conv-1", {"age": "18-24"}), now)
    counter.on_event(ev.Assigned("conv-1", "staff-1"), now)
    counter.transferred(now)
    counter.escalated(now)
    counter.on_event(ev.ConversationClosedEvent("conv-1", "self", "closed"), now)
    assert "could not be counted" in caplog.text
    assert "conv-1" not in caplog.text and "18-24" not in caplog.text
