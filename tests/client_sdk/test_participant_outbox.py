"""The participant's outbox (in memory only) with a real relay killed and started again
mid-conversation: sends made meanwhile say "queued", go out in order once the relay is
back, byte for byte, and the program sees each message once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events

PASSPHRASE = "correct horse battery staple (test only)"


async def texts_until(stream: Any, cid: str, last: str, seen: list[Any]) -> None:
    """Collect the program's events for ``cid`` (texts as text) until ``last`` arrives."""

    async def scan() -> None:
        async for event in stream:
            if getattr(event, "conversation_id", None) != cid:
                continue
            if isinstance(event, events.Message):
                seen.append(event.text)
                if event.text == last:
                    return
            elif isinstance(event, events.VerificationFailed | events.PossiblyMissingMessage):
                seen.append(event)

    await asyncio.wait_for(scan(), 60)


async def test_participant_sends_during_an_outage_are_queued_and_sent_in_order_once(
    fresh_relay: Any, enroll: Any
) -> None:
    enrolled = enroll(fresh_relay)
    async with await ProgramClient.connect(
        fresh_relay.url, enrolled.keystore, PASSPHRASE
    ) as program:
        pev = program.events()
        async with await ParticipantClient.connect(
            fresh_relay.url, enrolled.program_id, enrolled.identity_key, first_message="hello"
        ) as participant:
            cid = participant.conversation_id
            delivered: list[list[str]] = []
            deliver = participant._outbox._deliver

            async def recording(conversation_id: str, envelopes: list[str]) -> None:
                await deliver(conversation_id, envelopes)
                delivered.append(envelopes)

            participant._outbox._deliver = recording
            seen: list[Any] = []
            await texts_until(pev, cid, "hello", seen)
            assert await participant.send("one") == "delivered"
            await texts_until(pev, cid, "one", seen)

            fresh_relay.kill9()  # the relay dies mid-conversation
            assert await participant.send("two") == "queued"
            assert await participant.send("three") == "queued"
            assert participant.queued == 2
            records = participant._outbox._ks
            queued = [json.loads(records.get(n))["envelopes"] for n in records.names()]
            fresh_relay.restart()  # same port, same database
            await texts_until(pev, cid, "three", seen)
            assert participant.queued == 0
            assert delivered[-2:] == queued  # the same bytes, in order

            # the same bytes once more (a retry whose first answer was lost): the relay
            # answers with the first ids and stores nothing, so nothing shows twice
            await deliver(cid, queued[-1])
            assert await participant.send("four") == "delivered"
            await texts_until(pev, cid, "four", seen)
            assert seen == ["hello", "one", "two", "three", "four"]
