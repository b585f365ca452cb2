"""ConsoleNode against a real relay process and real participants (ParticipantClient)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from client_sdk import ParticipantClient, events
from console.errors import Conflict, Forbidden, NotAllowed, NotFound
from console.node import ConsoleNode
from console.settings import ConsoleSettings
from e2ee.identity import SignedObject

TIMEOUT = 15.0
PASSPHRASE = "correct horse battery staple (test only)"
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


async def published_status(node: ConsoleNode, relay_url: str) -> str:
    async with httpx.AsyncClient(base_url=relay_url) as http:
        record = (await http.get(f"/v1/programs/{node.program.program_id}")).json()
    return str(json.loads(SignedObject.from_json(record["status"]).body)["state"])


def kind_is(cls: type, **fields: Any) -> Any:
    return lambda e: isinstance(e, cls) and all(getattr(e, k) == v for k, v in fields.items())


async def next_update(sub: Any, predicate: Any) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        async for update in sub:
            if predicate(update):
                return dict(update)
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(scan(), TIMEOUT)


async def until(check: Any) -> None:
    """Wait (on the event loop, bounded) until ``check()`` is true."""

    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), TIMEOUT)


async def test_status_follows_who_is_on_shift(node: ConsoleNode, staff: Any, program: Any) -> None:
    sam = staff["Sam"]
    assert node.line()["status"] == "busy"  # open hours, but nobody on shift
    assert await published_status(node, program.relay_url) == "busy"
    await node.go_on_shift(sam)
    snap = node.snapshot(sam)
    assert snap["me"]["on_shift"] and not snap["me"]["last_30"]
    assert snap["line"] == {"status": "open", "waiting": 0, "on_shift": 1}
    assert await published_status(node, program.relay_url) == "open"
    # a participant's client sees the line open, and can start a conversation
    async with await ParticipantClient.connect(
        program.relay_url, program.program_id, program.identity_key
    ) as participant:
        assert participant.status is not None and participant.status.state == "open"
        await until(lambda: node.line()["waiting"] == 1)
    await node.go_off_shift(sam)
    assert await published_status(node, program.relay_url) == "busy"


async def test_a_whole_conversation(node: ConsoleNode, staff: Any, program: Any) -> None:
    sam, ali, kim = staff["Sam"], staff["Ali"], staff["Kim"]
    for member in (sam, ali, kim):
        await node.go_on_shift(member)
    await node.program.set_code_word("main", "lighthouse")
    async with (
        node.subscribe(sam) as sam_updates,
        node.subscribe(ali) as ali_updates,
        node.subscribe(kim) as kim_updates,
        await ParticipantClient.connect(
            program.relay_url, program.program_id, program.identity_key
        ) as participant,
    ):
        pev = participant.events()
        cid = participant.conversation_id
        update = await next_update(sam_updates, lambda u: u["type"] == "snapshot" and u["waiting"])
        [summary] = update["waiting"]
        assert summary["id"] == cid and summary["state"] == "waiting"
        assert summary["label"].startswith("Conversation ") and not summary["urgent"]
        await participant.send("مرحبا، أحتاج مساعدة 你好 🙏")
        await until(lambda: len(node._timelines[cid].entries) >= 2)

        # waiting: a worker sees a summary but not the timeline; a supervisor may read it
        with pytest.raises(NotFound) as hidden:
            node.timeline(sam, cid)
        assert [e["kind"] for e in node.timeline(kim, cid)] == ["notice", "message"]

        await node.claim(sam, cid)
        with pytest.raises(Conflict, match="first"):
            await node.claim(ali, cid)  # Ali saw it waiting: told someone else took it
        timeline = node.timeline(sam, cid)
        assert timeline[0]["notice_kind"] == "safety_check_in"
        assert timeline[1]["text"] == "مرحبا، أحتاج مساعدة 你好 🙏"
        assert timeline[1]["from"] == "participant"

        # Ali may not read or act on Sam's conversation: the same NotFound as no conversation
        with pytest.raises(NotFound) as forged:
            node.timeline(ali, cid)
        with pytest.raises(NotFound) as unknown:
            node.timeline(ali, "no-such-conversation-id")
        assert forged.value.message == unknown.value.message == hidden.value.message
        for action in (
            node.send(ali, cid, "hi"),
            node.end(ali, cid),
            node.escalate(ali, cid),
            node.ask_code_word(ali, cid, "main"),
            node.transfer(ali, cid, ali.staff_id),
        ):
            with pytest.raises(NotFound):
                await action
        with pytest.raises(Forbidden):
            await node.block(sam, cid)
        assert node.snapshot(ali)["mine"] == [] and node.snapshot(ali)["others"] == []
        assert [s["id"] for s in node.snapshot(kim)["others"]] == [cid]

        await node.send(sam, cid, "أنا هنا. 我在这里 ❤️")
        message = await asyncio.wait_for(_first(pev, kind_is(events.Message)), TIMEOUT)
        assert message.text == "أنا هنا. 我在这里 ❤️"
        entry = await next_update(
            sam_updates, lambda u: u["type"] == "entry" and u["entry"]["from"] == "staff"
        )
        assert entry["entry"]["staff_name"] == "Sam"
        await participant.send("thank you")
        got = await next_update(
            kim_updates, lambda u: u["type"] == "entry" and u["entry"]["text"] == "thank you"
        )
        assert got["conversation_id"] == cid

        # code word: asked, answered; staff see only the outcome
        await node.ask_code_word(sam, cid, "main")
        request = await asyncio.wait_for(_first(pev, kind_is(events.CodeWordRequest)), TIMEOUT)
        await participant.answer_code_word(request.alias, "lighthouse")
        check = await next_update(sam_updates, lambda u: u["type"] == "code_word")
        assert check == {
            "type": "code_word",
            "conversation_id": cid,
            "alias": "main",
            "outcome": "matches",
        }
        assert "lighthouse" not in json.dumps(node.timeline(sam, cid))

        # duress: the assigned worker and every supervisor on shift, not Ali
        await participant.send_duress()
        alert_update = await next_update(
            sam_updates, lambda u: u["type"] == "snapshot" and u["alerts"]
        )
        [alert] = alert_update["alerts"]
        assert alert["kind"] == "duress" and alert["conversation_id"] == cid
        assert [a["id"] for a in node.snapshot(kim)["alerts"]] == [alert["id"]]
        assert node.snapshot(ali)["alerts"] == []
        await node.ack_alert(kim, alert["id"])
        assert node.snapshot(sam)["alerts"] == []

        # transfer to Ali: the participant is told; Ali sees the conversation so far
        await node.transfer(sam, cid, ali.staff_id)
        notice = await asyncio.wait_for(
            _first(pev, kind_is(events.Notice, kind="transfer")), TIMEOUT
        )
        assert notice.body
        assert any(e["text"] == "thank you" for e in node.timeline(ali, cid))
        with pytest.raises(NotFound):
            node.timeline(sam, cid)
        # escalate: to the supervisor on shift
        await node.escalate(ali, cid)
        await until(lambda: node.workflow.conversation(cid).assigned_to == kim.staff_id)
        assert [s["id"] for s in node.snapshot(kim)["mine"]] == [cid]

        # the supervisor ends it: the closing notice first, then the close
        await node.end(kim, cid)
        closing = await asyncio.wait_for(
            _first(pev, kind_is(events.Notice, kind="closing")), TIMEOUT
        )
        assert closing.body
        await asyncio.wait_for(_first(pev, kind_is(events.ConversationClosedEvent)), TIMEOUT)
        closed = await next_update(kim_updates, lambda u: u["type"] == "closed")
        assert closed["conversation_id"] == cid
        with pytest.raises(NotFound):
            node.timeline(kim, cid)
        del ali_updates


async def _first(stream: Any, predicate: Any) -> Any:
    async for item in stream:
        if predicate(item):
            return item
    raise AssertionError("stream ended")


async def test_shift_end_rules_and_hand_off(node: ConsoleNode, staff: Any, program: Any) -> None:
    sam, ali, kim = staff["Sam"], staff["Ali"], staff["Kim"]
    await node.go_on_shift(ali)
    await node.go_on_shift(kim)
    async with await ParticipantClient.connect(
        program.relay_url, program.program_id, program.identity_key
    ) as participant:
        pev = participant.events()
        await until(lambda: node.line()["waiting"] == 1)
        with pytest.raises(NotAllowed, match="You are not on shift"):
            await node.take_next(sam)
        await node.go_on_shift(sam)
        cid = await node.take_next(sam)
        assert cid == participant.conversation_id
        assert await node.take_next(sam) is None  # nobody else waits
        # Ali's shift ends in 2 minutes: the last 30, so no new conversation for Ali
        now_ms = int(node.workflow.clock.now().timestamp() * 1000)
        await node.go_on_shift(ali, until_ms=now_ms + 2 * 60_000)
        me = node.snapshot(ali)["me"]
        assert me["on_shift"] and me["last_30"]
        await until(lambda: [a["kind"] for a in node.snapshot(ali)["alerts"]] == ["shift_ending"])
        with pytest.raises(NotAllowed, match="last 30 minutes"):
            await node.transfer(sam, cid, ali.staff_id)
        eligible = {c["name"]: c["eligible"] for c in node.colleagues(sam)}
        assert eligible == {"Ali": False, "Kim": True, "Ada": False}
        # Sam goes off shift: the conversation is handed off (to Kim, the only one able)
        await node.go_off_shift(sam)
        await until(lambda: node.workflow.conversation(cid).assigned_to == kim.staff_id)
        notice = await asyncio.wait_for(
            _first(pev, kind_is(events.Notice, kind="shift_change")), TIMEOUT
        )
        assert notice.body
        assert node.snapshot(sam)["me"]["on_shift"] is False
        await node.block(kim, cid)
        await asyncio.wait_for(_first(pev, kind_is(events.ConversationClosedEvent)), TIMEOUT)
        await until(lambda: node.line()["waiting"] == 0 and not node.snapshot(kim)["mine"])


async def test_a_slow_browser_is_dropped_not_buffered(node: ConsoleNode, staff: Any) -> None:
    sam = staff["Sam"]
    async with node.subscribe(sam) as slow:
        for _ in range(node.settings.subscriber_queue + 5):
            node._hub.send({"type": "entry"}, lambda account: True)
        assert slow.dropped and slow.ended
        assert [u async for u in slow] == []  # its backlog is gone with it


async def test_disabled_account_is_signed_out(node: ConsoleNode, staff: Any) -> None:
    sam, ada, kim = staff["Sam"], staff["Ada"], staff["Kim"]
    assert await node.sign_in("sam", "sam's password 1") == sam
    assert await node.sign_in("sam", "wrong password") is None
    with pytest.raises(Forbidden):
        await node.disable_account(kim, sam.staff_id)
    async with node.subscribe(sam) as updates:
        await node.disable_account(ada, sam.staff_id)
        assert [u["type"] async for u in updates][-1] == "signed_out"
    with pytest.raises(Forbidden):
        node.snapshot(sam)
    assert await node.sign_in("sam", "sam's password 1") is None


async def test_a_restarted_node_resumes_shifts_assignments_and_timelines(program: Any) -> None:
    async def start() -> ConsoleNode:
        return await ConsoleNode.open(
            program.keystore, PASSPHRASE, ConsoleSettings(), hasher=FAST, auto_tick=False
        )

    node = await start()
    sam = node.accounts.find("Sam")
    assert sam is not None
    try:
        await node.go_on_shift(sam)
        async with await ParticipantClient.connect(
            program.relay_url, program.program_id, program.identity_key
        ) as participant:
            pev = participant.events()
            cid = participant.conversation_id
            await participant.send("before the restart")
            await until(lambda: node.line()["waiting"] == 1)
            await node.claim(sam, cid)
            await node.send(sam, cid, "we are here")
            await asyncio.wait_for(_first(pev, kind_is(events.Message)), TIMEOUT)
            await node.aclose()

            node = await start()
            snap = node.snapshot(sam)
            assert snap["me"]["on_shift"] and [s["id"] for s in snap["mine"]] == [cid]
            texts = [(e["from"], e["text"]) for e in node.timeline(sam, cid)]
            assert ("participant", "before the restart") in texts
            assert ("staff", "we are here") in texts
            async with node.subscribe(sam) as updates:
                await participant.send("after the restart")
                got = await next_update(
                    updates, lambda u: u["type"] == "entry" and u["entry"]["from"] == "participant"
                )
                assert got["entry"]["text"] == "after the restart"
    finally:
        await node.aclose()


async def test_a_duress_alert_outlives_its_conversation(
    node: ConsoleNode, staff: Any, program: Any
) -> None:
    sam, kim, ali = staff["Sam"], staff["Kim"], staff["Ali"]
    await node.go_on_shift(sam)
    await node.go_on_shift(kim)
    async with await ParticipantClient.connect(
        program.relay_url, program.program_id, program.identity_key
    ) as participant:
        cid = participant.conversation_id
        await until(lambda: node.line()["waiting"] == 1)
        await node.claim(sam, cid)
        label = node.snapshot(sam)["mine"][0]["label"]
        await participant.send_duress()
        await participant.close()  # "someone is here": the widget leaves at once
    await until(lambda: not node.snapshot(sam)["mine"])  # the conversation is gone
    [alert] = node.snapshot(sam)["alerts"]
    assert alert["kind"] == "duress" and alert["label"] == label
    assert [a["id"] for a in node.snapshot(kim)["alerts"]] == [alert["id"]]
    assert node.snapshot(ali)["alerts"] == []  # off shift, not the holder
    with pytest.raises(NotFound):
        await node.ack_alert(ali, alert["id"])
    await node.ack_alert(kim, alert["id"])
    assert node.snapshot(sam)["alerts"] == []


async def test_a_hand_off_nobody_can_take_returns_it_to_the_queue_with_an_alert(
    node: ConsoleNode, staff: Any, program: Any
) -> None:
    sam, kim, ada = staff["Sam"], staff["Kim"], staff["Ada"]
    await node.go_on_shift(sam)
    async with await ParticipantClient.connect(
        program.relay_url, program.program_id, program.identity_key
    ):
        await until(lambda: node.line()["waiting"] == 1)
        cid = await node.take_next(sam)
        assert cid is not None
        handed_off_at = int(node.workflow.clock.now().timestamp() * 1000)
        await node.go_off_shift(sam)  # nobody else is on shift
        await until(lambda: bool(node.snapshot(kim)["alerts"]))
        [alert] = node.snapshot(kim)["alerts"]
        assert alert["kind"] == "handoff_needed" and alert["conversation_id"] == cid
        assert [a["id"] for a in node.snapshot(ada)["alerts"]] == [alert["id"]]
        assert [s["id"] for s in node.snapshot(kim)["waiting"]] == [cid]
        [back] = node.snapshot(kim)["waiting"]
        assert back["urgent"]  # back at the head of the queue
        assert back["waiting_since_ms"] >= handed_off_at > back["opened_at_ms"]
        assert node.line() == {"status": "busy", "waiting": 1, "on_shift": 0}
        assert any("back in the queue" in e["text"] for e in node.timeline(kim, cid))


async def test_sign_in_upgrades_an_old_hash_in_the_password_pool(program: Any) -> None:
    """Accounts hashed with older parameters are re-hashed at sign-in (in the node's
    password pool) and saved: the next node verifies with the new parameters alone."""
    stronger = PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)
    settings = ConsoleSettings(password_workers=1, password_waiting=0)
    node = await ConsoleNode.open(
        program.keystore, PASSPHRASE, settings, hasher=stronger, auto_tick=False
    )
    try:
        record = node.accounts.lookup("Sam")
        assert record is not None and node.accounts.needs_rehash(record)
        sam = await node.sign_in("Sam", "sam's password 1")
        assert sam is not None and sam.name == "Sam"
        record = node.accounts.lookup("Sam")
        assert record is not None and not node.accounts.needs_rehash(record)
        assert await node.sign_in("Sam", "wrong password") is None
        assert node.passwords.pending == 0
    finally:
        await node.aclose()
    node = await ConsoleNode.open(
        program.keystore, PASSPHRASE, settings, hasher=stronger, auto_tick=False
    )
    try:
        record = node.accounts.lookup("Sam")
        assert record is not None and not node.accounts.needs_rehash(record)  # it was saved
        assert await node.sign_in("Sam", "sam's password 1") is not None
    finally:
        await node.aclose()
