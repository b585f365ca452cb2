"""The program node over a real relay: restart, staff and participants at once, workflow
timers on a manual clock, transcripts at rest and their deletion at close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from client_sdk import ConversationClosed, ParticipantClient, ProgramClient, events
from client_sdk import store as records
from client_sdk.keystore import Keystore
from client_sdk.vault.db import Database
from client_sdk.workflow import (
    ManualClock,
    Role,
    StaffMember,
    StatusKeeper,
    UrgentAlert,
    Workflow,
)
from client_sdk.workflow.staff import Shift

PASSPHRASE = "correct horse battery staple (test only)"


def kind_is(cls: type, **fields: Any) -> Any:
    return lambda e: isinstance(e, cls) and all(getattr(e, k) == v for k, v in fields.items())


async def test_program_node_restart_mid_conversation(
    program_factory: Any, relay: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    program = await ProgramClient.connect(relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False)
    try:
        pev = program.events()
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            qev = participant.events()
            cid = (await waiter(pev, kind_is(events.NewConversation))).conversation_id
            await waiter(qev, kind_is(events.Notice, kind="safety_check_in"))
            await participant.send("before the restart")
            await waiter(pev, kind_is(events.Message, text="before the restart"))
            await program.send(cid, "we are here")
            await waiter(qev, kind_is(events.Message, text="we are here"))

            await program.aclose()  # the node stops; its state is in the keystore
            await participant.send("while you were away")
            await participant.send("and again")

            program = await ProgramClient.connect(
                relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
            )
            pev = program.events()
            assert program.conversations == [cid]
            seen: list[Any] = []
            await waiter(pev, kind_is(events.Message, text="and again"), seen=seen)
            assert [e.text for e in seen if isinstance(e, events.Message)] == [
                "while you were away"
            ]
            assert not [
                e for e in seen if isinstance(e, events.NewConversation | events.VerificationFailed)
            ]
            bodies = [entry.get("body") for entry in program.transcript(cid)]
            assert bodies[-4:] == [
                "before the restart",
                "we are here",
                "while you were away",
                "and again",
            ]
            await program.send(cid, "after the restart")
            await waiter(qev, kind_is(events.Message, text="after the restart"))
            await program.close(cid)
            await waiter(qev, kind_is(events.ConversationClosedEvent))
    finally:
        await program.aclose()


def on_shift(staff_id: str, now: datetime, role: Role = Role.STAFF) -> StaffMember:
    return StaffMember(
        staff_id,
        staff_id.title(),
        role,
        (Shift(now - timedelta(hours=1), now + timedelta(hours=8)),),
    )


async def test_a_restart_resumes_the_workflow_as_it_was(
    program_factory: Any, relay: Any, waiter: Any
) -> None:
    """Queue order, opening times, assignments and urgency survive a restart of the node
    (they are saved in the keystore with the sessions); the restart is later on the
    clock, and nothing is re-queued behind it."""
    enrolled = program_factory()
    start = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(start)

    def workflow(*, staff: bool = True) -> Workflow:
        team = [on_shift("alice", start)] if staff else []
        return Workflow(clock=clock, status=StatusKeeper(), staff=team)

    first = workflow()
    program = await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, workflow=first, auto_tick=False
    )
    try:
        pev = program.events()
        one = await ParticipantClient.connect(relay.url, enrolled.program_id, enrolled.identity_key)
        clock.advance(timedelta(minutes=1))
        two = await ParticipantClient.connect(relay.url, enrolled.program_id, enrolled.identity_key)
        three = await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        )
        async with one, two, three:
            ids = {one.conversation_id, two.conversation_id, three.conversation_id}
            while set(first.open_conversations()) != ids:
                await waiter(pev, kind_is(events.NewConversation))
            await program.claim(one.conversation_id, "alice")
            await three.send_duress()
            await waiter(pev, kind_is(events.Duress, conversation_id=three.conversation_id))
            before = {cid: first.conversation(cid) for cid in ids}
            queue = first.waiting()
            assert before[three.conversation_id].urgent and queue[0] == three.conversation_id

            await program.aclose()
            clock.advance(timedelta(minutes=30))
            second = workflow()
            program = await ProgramClient.connect(
                relay.url, enrolled.keystore, PASSPHRASE, workflow=second, auto_tick=False
            )
            assert sorted(program.conversations) == sorted(ids)
            assert {cid: second.conversation(cid) for cid in ids} == before
            assert second.waiting() == queue
            assert second.assigned("alice") == [one.conversation_id]

            # a conversation closed while the node was down is not resumed
            await program.aclose()
            with Keystore.open(enrolled.keystore, PASSPHRASE) as ks:
                records.forget_conversation(ks, two.conversation_id, retain_transcript=False)
                ks.save()
            # staff registered only after connect (set_staff): alice's conversation waits
            # in its place, not made urgent; the urgent one stays first
            third = workflow(staff=False)
            program = await ProgramClient.connect(
                relay.url, enrolled.keystore, PASSPHRASE, workflow=third, auto_tick=False
            )
            assert two.conversation_id not in third.open_conversations()
            assert third.waiting() == [three.conversation_id, one.conversation_id]
            assert not third.conversation(one.conversation_id).urgent
            assert third.conversation(three.conversation_id).urgent
            program.set_staff(on_shift("alice", start))
            await program.claim(one.conversation_id, "alice")
            assert third.assigned("alice") == [one.conversation_id]
    finally:
        await program.aclose()


async def test_two_participants_two_staff_and_workflow_timers(
    program_factory: Any, relay: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    start = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(start)
    workflow = Workflow(
        clock=clock,
        status=StatusKeeper(),
        staff=[
            on_shift("alice", start),
            on_shift("bob", start),
            on_shift("sam", start, Role.SUPERVISOR),
        ],
    )
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, workflow=workflow, auto_tick=False
    ) as program:
        pev = program.events()
        one = await ParticipantClient.connect(relay.url, enrolled.program_id, enrolled.identity_key)
        two = await ParticipantClient.connect(relay.url, enrolled.program_id, enrolled.identity_key)
        async with one, two:
            e1, e2 = one.events(), two.events()
            opened = {
                (await waiter(pev, kind_is(events.NewConversation))).conversation_id
                for _ in range(2)
            }
            assert opened == {one.conversation_id, two.conversation_id}
            c1, c2 = one.conversation_id, two.conversation_id
            # the safety check-in went out automatically, before anyone typed
            for q in (e1, e2):
                notice = await waiter(q, kind_is(events.Notice, kind="safety_check_in"))
                assert notice.body == workflow.notices.safety_check_in
            assert workflow.waiting() == [c1, c2] or workflow.waiting() == [c2, c1]

            await program.claim(c1, "alice")
            await program.claim(c2, "bob")
            await program.send(c1, "alice here")
            await program.send(c2, "bob here")
            assert (await waiter(e1, kind_is(events.Message))).text == "alice here"
            assert (await waiter(e2, kind_is(events.Message))).text == "bob here"
            await one.send("one speaking")
            await two.send("two speaking")
            got = {
                (m.conversation_id, m.text)
                for m in [await waiter(pev, kind_is(events.Message)) for _ in range(2)]
            }
            assert got == {(c1, "one speaking"), (c2, "two speaking")}

            # transfer with a notice to the participant that someone new is answering
            await program.transfer(c2, "alice")
            assert (await waiter(e2, kind_is(events.Notice))).kind == "transfer"
            assert workflow.conversation(c2).assigned_to == "alice"

            # duress reaches the program as an urgent event
            await two.send_duress()
            await waiter(pev, kind_is(events.Duress, conversation_id=c2))
            alert = await waiter(
                pev,
                lambda e: isinstance(e, events.WorkflowEvent) and isinstance(e.action, UrgentAlert),
            )
            assert "sam" in alert.action.notify

            # code word: asked, answered, checked, never shown
            await program.set_code_word("blue heron", "river stones")
            await program.request_code_word(c2, "blue heron")
            request = await waiter(e2, kind_is(events.CodeWordRequest))
            await two.answer_code_word(request.alias, "River  Stones")
            result = await waiter(pev, kind_is(events.CodeWordResult))
            assert result.verified and result.outcome == "verified"
            await two.answer_code_word(request.alias, "wrong words")
            assert not (await waiter(pev, kind_is(events.CodeWordResult))).verified
            assert "river" not in repr(program.transcript(c2)).lower()

            # inactivity: warning after W minutes of participant silence, close after C more
            clock.advance(seconds=30)
            await program.send(c1, "are you still there?")
            await waiter(e1, kind_is(events.Message, text="are you still there?"))
            clock.advance(workflow.settings.inactivity_warning_after)
            await program.tick()
            assert (await waiter(e1, kind_is(events.Notice))).kind == "inactivity"
            clock.advance(workflow.settings.inactivity_close_after)
            await program.tick()
            assert (await waiter(e1, kind_is(events.Notice))).kind == "closing"
            await waiter(e1, kind_is(events.ConversationClosedEvent))
            await waiter(pev, kind_is(events.ConversationClosedEvent, conversation_id=c1))
            assert program.conversations == [c2]
            with pytest.raises(ConversationClosed):
                program.transcript(c1)
            with pytest.raises(ConversationClosed):
                await one.send("too late")

            await two.close()
            await waiter(pev, kind_is(events.ParticipantLeft, conversation_id=c2))
            await waiter(pev, kind_is(events.ConversationClosedEvent, conversation_id=c2))
            assert program.conversations == []


@pytest.mark.parametrize("retain", [False, True])
async def test_close_deletes_state_unless_retention_is_on(
    program_factory: Any, relay: Any, waiter: Any, retain: bool
) -> None:
    enrolled = program_factory()
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, retain_transcripts=retain, auto_tick=False
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            cid = (await waiter(pev, kind_is(events.NewConversation))).conversation_id
            await participant.send("something private")
            await waiter(pev, kind_is(events.Message))
            with Keystore.open(enrolled.keystore, PASSPHRASE) as ks:
                assert ks.get(records.session_name(cid)) is not None
                assert b"something private" in (ks.get(records.transcript_name(cid)) or b"")
            await program.close(cid)
            await waiter(participant.events(), kind_is(events.ConversationClosedEvent))
    with Keystore.open(enrolled.keystore, PASSPHRASE) as ks:
        assert ks.names(f"conversation/{cid}") == []
        assert (ks.get(f"retained/{cid}") is not None) is retain


async def test_both_sides_reconnect_after_a_relay_restart(
    fresh_relay: Any, enroll: Any, waiter: Any
) -> None:
    relay = fresh_relay
    enrolled = enroll(relay)
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            qev = participant.events()
            cid = (await waiter(pev, kind_is(events.NewConversation))).conversation_id
            await waiter(qev, kind_is(events.Notice))
            await asyncio.to_thread(relay.restart)  # sessions in the relay's memory are gone
            await waiter(pev, kind_is(events.Reconnected), timeout=60)
            await waiter(qev, kind_is(events.Reconnected), timeout=60)
            await participant.send("still there?")
            await waiter(pev, kind_is(events.Message, text="still there?"))
            await program.send(cid, "yes")
            await waiter(qev, kind_is(events.Message, text="yes"))
            await program.maintain()  # authenticated HTTP works again too


async def test_a_failed_save_delays_messages_and_loses_none(
    program_factory: Any, relay: Any, waiter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while a message arrives: not acked, not shown yet; shown after a save."""
    enrolled = program_factory()
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            await waiter(pev, kind_is(events.NewConversation))
            await waiter(participant.events(), kind_is(events.Notice, kind="safety_check_in"))
            attempted = asyncio.Event()
            real_write = Database.write

            def disk_full(*args: Any) -> None:
                attempted.set()
                raise OSError("disk full")

            monkeypatch.setattr(Database, "write", disk_full)
            await participant.send("while the disk is full")
            await asyncio.wait_for(attempted.wait(), 15)
            monkeypatch.setattr(Database, "write", real_write)
            assert program._ks.dirty
            await participant.send("after")
            seen: list[Any] = []
            await waiter(pev, kind_is(events.Message, text="after"), seen=seen)
            assert [e.text for e in seen if isinstance(e, events.Message)] == [
                "while the disk is full"
            ]


async def test_code_words_are_kept_in_the_keystore_across_a_restart(
    program_factory: Any, relay: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        await program.set_code_word("blue heron", "river stones")
    with Keystore.open(enrolled.keystore, PASSPHRASE) as ks:
        assert ks.names(records.CODE_WORD) == [f"{records.CODE_WORD}blue heron"]
    async with await ProgramClient.connect(
        relay.url, enrolled.keystore, PASSPHRASE, auto_tick=False
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            cid = (await waiter(pev, kind_is(events.NewConversation))).conversation_id
            await program.request_code_word(cid, "blue heron")
            request = await waiter(participant.events(), kind_is(events.CodeWordRequest))
            await participant.answer_code_word(request.alias, "river stones")
            result = await waiter(pev, kind_is(events.CodeWordResult))
            assert result.verified and result.outcome == "verified"
