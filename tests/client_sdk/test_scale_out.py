"""Two relay processes on PostgreSQL with Redis between them (docs/scale-out.md): the
participant on one, the program node on the other, and one relay killed mid-
conversation. Both sides reach the relays through a balancer (tests/support/
balancer.py), as in production; nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from relay_pair import RelayPair

from client_sdk import ParticipantClient, ProgramClient, events
from client_sdk.transport import Backoff
from e2ee.encoding import b64u_decode
from e2ee.envelope import PROGRAM_SLOT, Envelope
from server.fanout import CHANNEL, MESSAGES_PREFIX

pytestmark = [pytest.mark.pg, pytest.mark.slow]
PASSPHRASE = "correct horse battery staple (test only)"


@pytest.fixture
def pair(failover_pair: RelayPair) -> RelayPair:
    """Failover: every connection goes to relay a while it lives, then to b."""
    return failover_pair


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
    spy = RedisSpy(pair.a.extra_env["QUIETLINE_BROKER_URL"])
    await spy.start()
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
    await spy.stop()
    spy.check_what_it_carried()


class RedisSpy:
    """Reads every payload the relays publish on Redis, to check what they carry."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.payloads: list[bytes] = []
        self.channels: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(self.url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(CHANNEL)
        await self._pubsub.psubscribe(MESSAGES_PREFIX + "*")  # each recipient's own
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is not None:
                self.payloads.append(message["data"])
                self.channels.append(message["channel"].decode())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._pubsub.aclose()
        await self._redis.aclose()

    def check_what_it_carried(self) -> None:
        """Opaque channels and id-only events; a message push carries what the relay
        stores and sends on the socket (its id, conversation id and envelope), on its
        recipient's own channel only, and nothing else."""
        kinds = set()
        assert self.payloads
        for raw, redis_channel in zip(self.payloads, self.channels, strict=True):
            payload = json.loads(raw)
            assert set(payload) == {"i", "e"} and len(b64u_decode(payload["i"])) == 8
            for channel, item in payload["e"]:
                assert channel == "" or len(b64u_decode(channel)) in (17, 18)
                if item.get("type") == "message":  # on the recipient's own channel
                    assert redis_channel == MESSAGES_PREFIX + channel
                    assert set(item) == {"type", "id", "conversation_id", "envelope"}, item
                    assert len(b64u_decode(item["id"])) == 16
                    envelope = Envelope.from_bytes(b64u_decode(item["envelope"]))
                    assert b64u_decode(item["conversation_id"]) == envelope.conversation_id
                    to = b64u_decode(channel)
                    if to[:1] == b"m":  # a participant's: its conversation and slot
                        assert to[1:] == envelope.conversation_id + bytes([envelope.recipient_slot])
                    else:
                        assert envelope.recipient_slot == PROGRAM_SLOT
                    kinds.add("message")
                    continue
                assert redis_channel == CHANNEL
                assert set(item) <= {"type", "conversation_id"}, item
                if "conversation_id" in item:
                    assert len(b64u_decode(item["conversation_id"])) == 16
                kinds.add(item["type"])
        assert {"message", "conversation", "closed"} <= kinds, kinds


async def test_redis_restart_mid_conversation(
    pair: RelayPair, enroll: Callable[[Any], Any], waiter: Any, redis_server: Any
) -> None:
    """Redis goes away and comes back empty: each relay resubscribes and closes its
    sockets (1012), the clients reconnect and fetch what was sent meanwhile."""
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
            new = await waiter(pev, lambda e: isinstance(e, events.NewConversation), 30)
            cid = new.conversation_id
            qev = participant.events()
            redis_server.stop()
            await participant.send("while redis is away")
            await program.send(cid, "while redis is away, back")
            redis_server.restart()
            got = await waiter(pev, lambda e: isinstance(e, events.Message), 30)
            assert got.text == "while redis is away"
            back = await waiter(qev, lambda e: isinstance(e, events.Message), 30)
            assert back.text == "while redis is away, back"
            # and live again, across the relays
            await participant.send("redis is back")
            got = await waiter(pev, lambda e: isinstance(e, events.Message), 30)
            assert got.text == "redis is back"
