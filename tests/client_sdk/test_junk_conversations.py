"""A conversation opened by a script that never comes back with its token (a junk init,
made with real keys from a real bundle) never reaches the program node: staff see no
new conversation and nothing waiting for it; a real participant is shown as usual."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from client_sdk import ParticipantClient, ProgramClient, events
from client_sdk.transport import RelayHTTP
from e2ee import payload as pl
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.identity import verify_bundle
from e2ee.primitives import system_random
from e2ee.session import start_conversation

PASSPHRASE = "correct horse battery staple (test only)"


async def junk_conversation(url: str, program_id: str, identity_key: str) -> str:
    """What a flooding script does: a valid init, then never a socket, send or fetch."""
    http = RelayHTTP(url)
    try:
        raw = await http.bundle(program_id)
        bundle = verify_bundle(raw, b64u_decode(identity_key), now=int(time.time()))
        _session, init = start_conversation(bundle, pl.System("start", 0), random=system_random)
        cid, _token = await http.create_conversation(program_id, b64u_encode(init))
        return cid
    finally:
        await http.aclose()


async def test_a_junk_conversation_is_never_shown_to_staff(
    relay: Any, program_factory: Any, waiter: Any
) -> None:
    enrolled = program_factory()
    async with await ProgramClient.connect(relay.url, enrolled.keystore, PASSPHRASE) as program:
        pev = program.events()
        junk = [
            await junk_conversation(relay.url, enrolled.program_id, enrolled.identity_key)
            for _ in range(3)
        ]
        async with await ParticipantClient.connect(
            relay.url, enrolled.program_id, enrolled.identity_key, first_message="hello"
        ) as participant:
            first = await waiter(pev, lambda e: isinstance(e, events.NewConversation))
            assert first.conversation_id == participant.conversation_id
            await waiter(pev, lambda e: isinstance(e, events.Message) and e.text == "hello")
            # the junk inits were sent before the real one and never reached the node
            assert program.conversations == [participant.conversation_id]
            # the node queues it right after handing out the events: wait for that turn
            deadline = asyncio.get_running_loop().time() + 10
            while not program.workflow.waiting():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
            assert program.workflow.waiting() == [participant.conversation_id]
            assert not set(junk) & set(program.workflow.open_conversations())
