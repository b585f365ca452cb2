"""Abuse limits and short-lived memory, kept only in this process.

Keys are HMAC-SHA256 under a random key made at start-up, so the counters hold no id
a reader of a memory dump could match against the database without that key, and they
die with the process. Nothing here is ever written. The client's address is never
read: limits are per program, per conversation and per token, not per IP.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from server.errors import ApiError

_openssl_hmac: Any
try:  # OpenSSL's HMAC object, which hmac.new wraps for a digest named by a string
    from _hashlib import hmac_new as _openssl_hmac
except ImportError:  # an interpreter without it: hmac.new, the same bytes
    _openssl_hmac = None

WINDOW_SECONDS = 60


class KeyedHasher:
    """HMAC-SHA256 under a random per-process key, truncated to 16 bytes. The keyed state
    is made once and copied per hash (a fresh HMAC hashes its key blocks first: a third
    of the cost, once or twice per send on the hot path). It is OpenSSL's HMAC object itself
    where the interpreter has it (``hmac.new`` wraps the same object in Python code that
    costs another 0.5 µs a hash), else ``hmac.new``'s."""

    def __init__(self, key: bytes | None = None) -> None:
        key = key or secrets.token_bytes(32)
        self._keyed: Any = (
            _openssl_hmac(key, digestmod="sha256")
            if _openssl_hmac is not None
            else hmac.new(key, digestmod="sha256")
        )

    def __repr__(self) -> str:
        return "KeyedHasher(<hidden>)"

    def __call__(self, namespace: str, value: bytes) -> bytes:
        return self.of_message(namespace.encode() + b"\x00" + value)

    def of_message(self, message: bytes) -> bytes:
        """The hash of ``message`` as it is: ``namespace``, a zero byte, then the value
        (what :meth:`__call__` makes), for a caller that builds it in one join."""
        h = self._keyed.copy()
        h.update(message)
        digest: bytes = h.digest()
        return digest[:16]


class RateLimiter:
    """Token buckets: per key, at most ``limit`` events in a burst, refilled at ``limit``
    per minute. There is no window edge to straddle: a burst at any moment gets at most
    ``limit`` through, then ``limit / 60`` a second (fixed minute windows let ``2 * limit``
    through in the two seconds around a minute's turn).

    A bucket is the key (a keyed hash) and two floats, in memory only; buckets full again
    are dropped at most once a minute, so the memory is that of the keys active in the
    last minute, as with minute windows."""

    def __init__(self, hasher: KeyedHasher, clock: Callable[[], float] = time.monotonic) -> None:
        self._hash = hasher
        self._clock = clock
        self._used: dict[bytes, tuple[float, float]] = {}
        """key -> (tokens spent, when last counted): a full bucket has spent nothing."""
        self._purged = clock()

    def hit(self, namespace: str, value: bytes, limit: int) -> None:
        self.hit_key(self._hash(namespace, value), limit)

    def hit_key(self, key: bytes, limit: int) -> None:
        """:meth:`hit` for a key the caller already hashed with this limiter's hasher
        (in a namespace of its own), to hash a value once for several uses."""
        now = self._clock()
        entry = self._used.get(key)
        if entry is None:
            spent = 1.0
        else:
            left = entry[0] - (now - entry[1]) * limit / WINDOW_SECONDS
            spent = left + 1.0 if left > 0.0 else 1.0
        if spent > limit:
            raise ApiError("rate_limited", "Too many requests; try again in a minute.")
        self._used[key] = (spent, now)
        if now - self._purged >= WINDOW_SECONDS:
            self._purge(now)

    def _purge(self, now: float) -> None:
        """Drop the buckets refilled by now (a bucket of any limit refills within a
        minute of its last event)."""
        self._purged = now
        self._used = {k: v for k, v in self._used.items() if now - v[1] < WINDOW_SECONDS}


class Decaying:
    """Counts that decay with a one-minute time constant, per key, in memory only: a
    steady ``n`` events a minute holds a count near ``n``, and a burst of ``n`` adds
    ``n`` at once, so a threshold compares with "events in the last minute" without a
    window edge where a count restarts at zero."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[bytes, tuple[float, float]] = {}

    def get(self, key: bytes) -> float:
        entry = self._items.get(key)
        if entry is None:
            return 0.0
        return entry[0] * math.exp((entry[1] - self._clock()) / WINDOW_SECONDS)

    def add(self, key: bytes) -> tuple[float, float]:
        """Count one event; returns the count before and after it."""
        before = self.get(key)
        now = self._clock()
        self._items[key] = (before + 1, now)
        if len(self._items) > 10_000:  # keys are program ids: few; a bound all the same
            self._items = {k: v for k, v in self._items.items() if self.get(k) >= 0.01}
        return before, before + 1


class ClosedSet:
    """Recently closed conversations (keyed hashes), to answer ``closed_conversation``.

    A conversation's key is :meth:`key` (the hasher's ``conversation`` namespace), which a
    send also counts its rate limit under: one hash per send for both."""

    def __init__(self, hasher: KeyedHasher, capacity: int) -> None:
        self._hash = hasher
        self._capacity = capacity
        self._items: OrderedDict[bytes, None] = OrderedDict()

    def key(self, conversation_id: bytes) -> bytes:
        return self._hash("conversation", conversation_id)

    def add(self, conversation_id: bytes) -> None:
        key = self.key(conversation_id)
        self._items[key] = None
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def __contains__(self, conversation_id: object) -> bool:
        if not isinstance(conversation_id, bytes):
            return False
        return self.key(conversation_id) in self._items

    def has_key(self, key: bytes) -> bool:
        """Whether the conversation whose :meth:`key` this is was closed."""
        return key in self._items


def send_fingerprint(
    conversation_id: bytes,
    sender_slot: int,
    envelopes: Sequence[bytes],
    sender_program: bytes = b"",
) -> bytes:
    """What :meth:`RecentSends.key` hashes (see there): the namespace ``send``, the
    conversation, the sender, and each envelope's length, first 64 and last 16 bytes."""
    head = bytes((sender_slot, len(sender_program)))
    parts = [b"send\x00", conversation_id, head, sender_program]
    for envelope in envelopes:
        parts += (len(envelope).to_bytes(4, "big"), envelope[:64], envelope[-16:])
    return b"".join(parts)


class RecentSends:
    """Sends committed in the last ``ttl`` seconds, by a keyed hash of what was sent, and
    the message ids the relay gave them: a send repeated byte for byte (a client whose
    answer was lost sends again, over another path) gets the same ids and is not stored
    twice, so the recipient never sees it twice (which its ratchet would call a replay).

    Only the keyed hash and the ids are kept, in memory, for at most ``capacity`` sends;
    the oldest go first. A restart forgets them (a resend then is stored again)."""

    def __init__(
        self,
        hasher: KeyedHasher,
        capacity: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hash = hasher
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock
        # Each entry is (deadline, the ids joined by commas): a tuple of a float and a
        # str, which the cyclic collector stops tracking, so tens of thousands of them
        # add nothing to its full collections (a list per entry would, as pauses).
        self._items: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    def key(
        self,
        conversation_id: bytes,
        sender_slot: int,
        envelopes: Sequence[bytes],
        sender_program: bytes = b"",
    ) -> bytes:
        """The keyed hash of one send: its conversation, sender and envelopes, in order.
        A program's sends also name the program (``sender_program``): only the program
        that sent one can have its repeat answered, as only it may send in that
        conversation (a participant's token names its conversation already).

        Each envelope counts by its length, its first 64 bytes (the routing fields and the
        ratchet header, which names one message key: a sender never seals two messages
        under one) and its last 16 (the AEAD tag, which authenticates everything between),
        not by all its bytes: hashing up to 64 KiB per send would cost the hot path more
        than the rest of this check. A sender who forges two envelopes alike in these
        places only has the second answered as the first: its own message, nobody else's."""
        return self._hash.of_message(
            send_fingerprint(conversation_id, sender_slot, envelopes, sender_program)
        )

    def key_of(self, fingerprint: bytes) -> bytes:
        """:meth:`key` from a :func:`send_fingerprint` made already."""
        return self._hash.of_message(fingerprint)

    def get(self, key: bytes) -> list[str] | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._items[key]
            return None
        return entry[1].split(",")

    def remember(self, key: bytes, message_ids: list[str]) -> None:
        """Remember a committed send; a key already known (a send stored twice because
        its repeat came while it was being written) keeps its place and first ids."""
        now = self._clock()
        items = self._items
        if key in items:
            return
        items[key] = (now + self._ttl, ",".join(message_ids))  # base64url: no commas
        while len(items) > self._capacity or next(iter(items.values()))[0] <= now:
            items.popitem(last=False)


class Challenges:
    """Outstanding program challenges: single use, short TTL, in memory only."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._items: dict[bytes, tuple[bytes, float]] = {}

    def issue(self, program_id: bytes) -> bytes:
        now = self._clock()
        if len(self._items) > 10_000:
            self._items = {k: v for k, v in self._items.items() if v[1] > now}
        challenge = secrets.token_bytes(32)
        self._items[challenge] = (program_id, now + self._ttl)
        return challenge

    def redeem(self, program_id: bytes, challenge: bytes) -> None:
        """Consume a challenge; unknown, replayed, foreign or expired ones are refused."""
        entry = self._items.pop(challenge, None)
        if entry is None or not hmac.compare_digest(entry[0], program_id):
            raise ApiError("bad_challenge", "The challenge is unknown or was already used.")
        if entry[1] < self._clock():
            raise ApiError("bad_challenge", "The challenge expired; ask for a new one.")
