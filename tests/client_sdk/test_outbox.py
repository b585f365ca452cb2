"""The program node's outbox (client_sdk/outbox.py) with a real relay killed and started
again mid-conversation: sends made meanwhile say "queued", go out in order once the
relay is back (also after the node itself restarted), and the participant sees each
message once."""

from __future__ import annotations

import asyncio
from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events

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
