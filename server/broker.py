"""Fan-out of events between connections: a small interface, in-process for now.

Channels are opaque byte strings: ``program_channel(pid)`` for a program node's streams,
``member_channel(cid, slot)`` for a participant or invited party. A multi-instance relay
replaces :class:`LocalBroker` with one backed by Redis pub/sub or PostgreSQL NOTIFY;
events are small JSON-able dicts that never contain a token.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

Event = dict[str, Any]


def program_channel(program_id: bytes) -> bytes:
    return b"p" + program_id


def member_channel(conversation_id: bytes, slot: int) -> bytes:
    return b"m" + conversation_id + bytes([slot])


class Broker(Protocol):
    def subscribe(self, channel: bytes, queue: asyncio.Queue[Event]) -> None: ...

    def unsubscribe(self, channel: bytes, queue: asyncio.Queue[Event]) -> None: ...

    def publish(self, channel: bytes, event: Event) -> None: ...


class LocalBroker:
    """Delivers to the queues subscribed in this process. Never blocks the publisher."""

    def __init__(self) -> None:
        self._subs: dict[bytes, set[asyncio.Queue[Event]]] = {}

    def subscribe(self, channel: bytes, queue: asyncio.Queue[Event]) -> None:
        self._subs.setdefault(channel, set()).add(queue)

    def unsubscribe(self, channel: bytes, queue: asyncio.Queue[Event]) -> None:
        subs = self._subs.get(channel)
        if subs is not None:
            subs.discard(queue)
            if not subs:
                del self._subs[channel]

    def publish(self, channel: bytes, event: Event) -> None:
        for queue in self._subs.get(channel, ()):
            queue.put_nowait(event)
