"""Recent sends shared by every relay process through Redis (``QUIETLINE_BROKER_URL``).

One relay remembers its recent sends in memory (:class:`server.limits.RecentSends`), so a
send repeated byte for byte after its answer was lost is answered with the first ids and
not stored again. Behind a balancer the repeat may reach another relay (the first one
died, or the client's new connection simply went elsewhere): each process then also
keeps the send in Redis, and looks there before storing a send it does not know.

What Redis holds, per send, for ``resend_memory_seconds`` (5 minutes) and then never
again: under the key ``quietline:send:`` + the SHA-256 of the send's fingerprint
(:func:`server.limits.send_fingerprint`: the conversation id, the sender's slot and
program id, and each envelope's length, first 64 and last 16 bytes), the message ids the
relay gave it. The hash is not keyed: every relay must compute the same one, and a key
shared by all of them would sit beside it in Redis or the database. It names nothing
a reader of Redis could use: the fingerprint holds each envelope's random ratchet header
and AEAD tag, which only someone holding the envelope itself has (the relay keeps it in
the database while it waits, under the message ids the value already names). The value
is opaque random ids; nothing identifying, no ciphertext.

Only the sends that may be repeats are looked up: every send over HTTP, and on a
WebSocket the sends up to the first one Redis does not know (a client sends what went
unanswered first, in order; what follows is new). At most ``LOOKUPS_AT_ONCE`` lookups
of a process wait on Redis at a time, so a crowd reconnecting at once cannot take every
connection of the pool from the notifications.

Redis failing never refuses a send: a lookup that fails stores the send (the recipient's
ratchet drops a copy as a replay, as before), and a SET lost with a dropped connection
only forgets the send across relays. The SET goes out in the same pipeline as the push
notifications, right after the commit, and the send is answered once that pipeline ran:
a sender that heard its answer is remembered everywhere. A relay killed after the commit
but before the SET never answered, so its client sends again, and another relay stores
it again: that copy, the one case left, the recipient's ratchet drops as a replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from server.fanout import RedisBroker

log = logging.getLogger("quietline.relay")

PREFIX = "quietline:send:"
LOOKUP_TIMEOUT = 2.0
LOOKUPS_AT_ONCE = 8


class SharedSends:
    """Recent sends of every relay process, in Redis."""

    def __init__(self, broker: RedisBroker, ttl: float) -> None:
        self._broker = broker
        self._ttl_ms = max(1, int(ttl * 1000))
        self._lookups = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    @staticmethod
    def key(fingerprint: bytes) -> str:
        return PREFIX + hashlib.sha256(fingerprint).hexdigest()

    async def recall(self, key: str) -> list[str] | None:
        """The ids another relay (or this one) gave the same send, if it is known."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT), self._lookups:
                value = await self._broker.get_value(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("redis send lookup failed: %s", type(exc).__name__)
            return None
        if not value:
            return None
        return value.decode("ascii").split(",")

    def remember(self, key: str, message_ids: list[str]) -> asyncio.Future[None] | None:
        """Keep a committed send's ids for the others (queued with the notifications);
        the future is done once Redis has them (or failed to): answer the send then, so a
        sender that heard the answer can never have its repeat stored twice."""
        return self._broker.set_later(key, ",".join(message_ids), self._ttl_ms)
