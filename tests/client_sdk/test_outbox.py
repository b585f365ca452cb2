"""The program node's outbox (client_sdk/outbox.py) with a real relay killed and started
again mid-conversation: sends made meanwhile say "queued", go out in order once the
relay is back (also after the node itself restarted), and the participant sees each
message once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events
from client_sdk.keystore import Keystore
from client_sdk.store import OUTBOX

PASSPHRASE = "correct horse battery staple (test only)"


async def texts_until(stream: Any, last: str, seen: list[str], timeout: float = 30) -> None:
    async def scan() -> None:
        async for event in stream:
            if isinstance(event, events.Message):
                seen.append(event.text)
                if event.text == last:
                    return

    await asyncio.wait_for(scan(), timeout)


async def test_sends_during_an_outage_are_queued_and_sent_in_order_once(
    fresh_relay: Any, enroll: Any, waiter: Any
) -> None:
    enrolled = enroll(fresh_relay)
    program = await ProgramClient.connect(fresh_relay.url, enrolled.keystore, PASSPHRASE)
    try:
        pev = program.events()
        async with await ParticipantClient.connect(
            fresh_relay.url, enrolled.program_id, enrolled.identity_key
        ) as participant:
            qev = participant.events()
            cid = (
                await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            ).conversation_id
            seen: list[str] = []
            assert await program.send(cid, "one") == "delivered"
            await texts_until(qev, "one", seen)

            # the relay dies; the node keeps writing
            fresh_relay.kill9()
            assert await program.send(cid, "two") == "queued"
            assert await program.send(cid, "three") == "queued"
            fresh_relay.restart()  # same port, same database
            await texts_until(qev, "three", seen)

            # down again, and the node restarts before the relay is back
            fresh_relay.kill9()
            assert await program.send(cid, "four") == "queued"
            assert await program.send(cid, "five") == "queued"
            await program.aclose()
            fresh_relay.restart()
            program = await ProgramClient.connect(fresh_relay.url, enrolled.keystore, PASSPHRASE)
            await texts_until(qev, "five", seen)
            assert await program.send(cid, "six") == "delivered"
            await texts_until(qev, "six", seen)
            assert seen == ["one", "two", "three", "four", "five", "six"]
    finally:
        await program.aclose()


def queued_for(program: ProgramClient, cid: str) -> int:
    """How many queued sends of the node's outbox are for ``cid``."""
    ks = program._ks
    return sum(json.loads(ks.get(name) or b"{}").get("cid") == cid for name in ks.names(OUTBOX))


async def test_a_closed_conversation_takes_its_queued_sends_with_it(
    fresh_relay: Any, enroll: Any, waiter: Any
) -> None:
    """Queued sends of a conversation that closes are dropped with its key (the relay
    would refuse them, and nothing filed under its id stays in the keystore), except the
    node's own close made while the relay is down: that one still goes when it is back."""
    enrolled = enroll(fresh_relay)
    program = await ProgramClient.connect(fresh_relay.url, enrolled.keystore, PASSPHRASE)
    try:
        pev = program.events()
        async with (
            await ParticipantClient.connect(
                fresh_relay.url, enrolled.program_id, enrolled.identity_key
            ) as first,
            await ParticipantClient.connect(
                fresh_relay.url, enrolled.program_id, enrolled.identity_key
            ) as second,
        ):
            for _ in range(2):
                await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            ids = [first.conversation_id, second.conversation_id]
            fresh_relay.kill9()
            assert await program.send(ids[0], "to the one that stays queued") == "queued"
            assert await program.send(ids[1], "to the one the relay closes") == "queued"
            # (progress messages to the participants may be queued too: count by id)
            kept = queued_for(program, ids[0])
            assert kept >= 1 and queued_for(program, ids[1]) >= 1
            # the relay said the second one closed (as its close frame does): its sends go
            await program._forget(ids[1], by="relay", reason="closed")
            assert queued_for(program, ids[1]) == 0 and queued_for(program, ids[0]) == kept
            # the node closes the first while the relay is down: the close stays queued
            await program.close(ids[0])
            assert queued_for(program, ids[0]) >= kept + 2  # the closing notice, the close
            fresh_relay.restart()
            qev = first.events()
            seen: list[str] = []
            await texts_until(qev, "to the one that stays queued", seen)
            await waiter(qev, lambda e: isinstance(e, events.ConversationClosedEvent))
            await program._outbox.flush()  # waits for the one under way; nothing is left
            assert len(program._outbox) == 0
    finally:
        await program.aclose()
    with Keystore.open(enrolled.keystore, PASSPHRASE) as ks:
        assert ks.names(OUTBOX) == [] and ks.conversations() == []
