"""The console's "typing" action (issue 16): only the worker holding a conversation tells
its participant that they are writing, end to end encrypted, at most once every few
seconds; "stopped" always goes. A real relay process and a real participant."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client_sdk import ParticipantClient, events
from console.errors import NotFound
from console.node import ConsoleNode

TIMEOUT = 15.0


async def _next_progress(stream: Any, cid: str) -> events.Progress:
    async def scan() -> events.Progress:
        async for event in stream:
            if isinstance(event, events.Progress) and event.kind == "typing":
                assert event.conversation_id == cid
                return event
        raise AssertionError("stream ended")

    return await asyncio.wait_for(scan(), TIMEOUT)


async def test_only_the_holder_tells_the_participant(
    node: ConsoleNode, staff: Any, program: Any
) -> None:
    sam, ali, kim = staff["Sam"], staff["Ali"], staff["Kim"]
    for member in (sam, ali, kim):
        await node.go_on_shift(member)
    async with await ParticipantClient.connect(
        program.relay_url, program.program_id, program.identity_key
    ) as participant:
        cid = participant.conversation_id
        stream = participant.events()
        await asyncio.wait_for(_until_waiting(node, kim, cid), TIMEOUT)
        await node.claim(sam, cid)
        with pytest.raises(NotFound):  # another worker may not even see it
            await node.typing(ali, cid, True)
        assert await node.typing(kim, cid, True) is False  # a supervisor reading it
        assert await node.typing(sam, cid, True) is True
        assert (await _next_progress(stream, cid)).value is True
        assert await node.typing(sam, cid, True) is False  # within the node's interval
        assert await node.typing(sam, cid, False) is True
        assert (await _next_progress(stream, cid)).value is False
        assert await node.typing(sam, cid, True) is True  # "stopped" resets the interval
        assert (await _next_progress(stream, cid)).value is True
        await node.end(sam, cid)


async def _until_waiting(node: ConsoleNode, who: Any, cid: str) -> None:
    """Bounded by the caller: poll the node's own view until the conversation waits."""
    while cid not in [s["id"] for s in node.snapshot(who)["waiting"]]:
        await asyncio.sleep(0.02)
