"""Fan-out of events between connections: a small interface, in-process for now.

Channels are opaque byte strings: ``program_channel(pid)`` for a program node's streams,
``member_channel(cid, slot)`` for a participant or invited party. A multi-instance relay
replaces :class:`LocalBroker` with one backed by Redis pub/sub or PostgreSQL NOTIFY;
events are small JSON-able dicts that never contain a token.
"""

from __future__ import annotations

from typing import Any, Protocol

Event = dict[str, Any]


def program_channel(program_id: bytes) -> bytes:
    return b"p" + program_id


def member_channel(conversation_id: bytes, slot: int) -> bytes:
    return b"m" + conversation_id + bytes([slot])


class Subscriber(Protocol):
    """Anything that takes events without blocking (an ``asyncio.Queue``, a mailbox)."""

    def put_nowait(self, event: Event) -> None: ...


class Broker(Protocol):
    def subscribe(self, channel: bytes, queue: Subscriber) -> None: ...

    def unsubscribe(self, channel: bytes, queue: Subscriber) -> None: ...

    def publish(self, channel: bytes, event: Event) -> None: ...


class LocalBroker:
    """Delivers to the queues subscribed in this process. Never blocks the publisher."""

    def __init__(self) -> None:
        # Tuples, not sets: most channels have one subscriber, and a tuple of one is small.
        self._subs: dict[bytes, tuple[Subscriber, ...]] = {}

    def subscribe(self, channel: bytes, queue: Subscriber) -> None:
        self._subs[channel] = (*self._subs.get(channel, ()), queue)

    def unsubscribe(self, channel: bytes, queue: Subscriber) -> None:
        rest = tuple(q for q in self._subs.get(channel, ()) if q is not queue)
        if rest:
            self._subs[channel] = rest
        else:
            self._subs.pop(channel, None)

    def publish(self, channel: bytes, event: Event) -> None:
        for queue in self._subs.get(channel, ()):
            queue.put_nowait(event)
