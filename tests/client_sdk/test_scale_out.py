"""Two relay processes on PostgreSQL with Redis between them (docs/scale-out.md): the
participant on one, the program node on the other, and one relay killed mid-
conversation. Both sides reach the relays through a balancer (tests/support/
balancer.py), as in production; nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from relay_pair import RelayPair, start_pair
from relay_process import FUNCTIONAL_LIMITS

from client_sdk import ParticipantClient, ProgramClient, events
from client_sdk.transport import Backoff

pytestmark = [pytest.mark.pg, pytest.mark.slow]
PASSPHRASE = "correct horse battery staple (test only)"


@pytest.fixture
def pair(tmp_path: Path, pg_database: str, redis_server: Any) -> Iterator[RelayPair]:
    p = start_pair(tmp_path, pg_database, redis_server.url, **FUNCTIONAL_LIMITS)
    try:
        yield p
    finally:
        p.stop()


async def test_sides_on_two_relays_one_killed_mid_conversation(
    pair: RelayPair, enroll: Callable[[Any], Any], waiter: Any
) -> None:
    async def wait_for(stream: Any, predicate: Any, timeout: float = 30) -> Any:
        return await waiter(stream, predicate, timeout)

    async def _texts(stream: Any, n: int) -> list[str]:
        got = []
        while len(got) < n:
            event = await wait_for(stream, lambda e: isinstance(e, events.Message))
            got.append(event.text)
        return got

    # the node enrolls and signs its challenges for the balancer's address
    enrolled = enroll(SimpleNamespace(url=pair.balancer.url, add_program=pair.a.add_program))
    fast = Backoff(base=0.05, cap=0.5)
    pair.balancer.targets = [pair.a.port, pair.b.port]
    async with await ProgramClient.connect(
        pair.balancer.url, enrolled.keystore, PASSPHRASE, backoff=fast
    ) as program:
        pev = program.events()
        pair.balancer.targets = [pair.b.port, pair.a.port]
        async with await ParticipantClient.connect(
            pair.balancer.url, enrolled.program_id, enrolled.identity_key, backoff=fast
        ) as participant:
            qev = participant.events()
            # the node's socket is on relay a, the participant's on relay b
            assert pair.a.port in pair.balancer.connections
            assert pair.balancer.connections[-1] == pair.b.port
            new = await wait_for(pev, lambda e: isinstance(e, events.NewConversation))
            cid = new.conversation_id
            # live, both ways, across the two relays
            for i in range(3):
                await participant.send(f"to the program {i}")
                await program.send(cid, f"to the participant {i}")
            assert await _texts(pev, 3) == [f"to the program {i}" for i in range(3)]
            assert await _texts(qev, 3) == [f"to the participant {i}" for i in range(3)]

            # relay a dies with the node's socket on it; the node comes back through b
            pair.a.kill9()
            for i in range(3, 8):
                await participant.send(f"to the program {i}")
            assert await _texts(pev, 5) == [f"to the program {i}" for i in range(3, 8)]
            for i in range(3, 6):
                await program.send(cid, f"to the participant {i}")
            assert await _texts(qev, 3) == [f"to the participant {i}" for i in range(3, 6)]
            assert pair.balancer.connections.count(pair.b.port) >= 2

            # relay a comes back; the participant's relay b dies: it moves to a
            pair.a.restart()
            pair.balancer.targets = [pair.a.port, pair.b.port]
            pair.b.kill9()
            await program.send(cid, "after b died")
            assert await _texts(qev, 1) == ["after b died"]
            await participant.send("from relay a")
            assert await _texts(pev, 1) == ["from relay a"]
            await participant.close()
            await wait_for(pev, lambda e: isinstance(e, events.ConversationClosedEvent))
