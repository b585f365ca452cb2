"""Sign-in throttling: failed attempts counted per account name and per client.

Both counters live in memory only and die with the process. A client is known by a
keyed hash of its address (HMAC-SHA256 under a random key made at start-up, truncated),
never by the address itself, so nothing that could identify a computer is kept in a
readable form. A name is counted case-folded, so "Sam" and "sam" share one budget.

When either budget is spent, sign-in is refused for that name or client until the
oldest failure leaves the window, even with the right password: guessing stays slow
whoever guesses. A successful sign-in clears the name's counter (not the client's).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from client_sdk.workflow.clock import Clock

__all__ = ["SignInLimits", "SignInThrottle"]

MAX_TRACKED = 10_000  # keys kept at most; the oldest are dropped first


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins allowed in ``window``, per account name and per client."""

    per_name: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.per_name < 1 or self.per_client < 1:
            raise ValueError("sign-in limits must allow at least one attempt")
        if self.window <= timedelta(0):
            raise ValueError("the sign-in window must be positive")


class SignInThrottle:
    def __init__(self, clock: Clock, limits: SignInLimits | None = None) -> None:
        self._clock = clock
        self.limits = limits or SignInLimits()
        self._key = secrets.token_bytes(32)
        self._failures: dict[bytes, deque[datetime]] = {}

    def _name_key(self, name: str) -> bytes:
        return b"n" + self._digest(name.strip().casefold())

    def _client_key(self, client: str) -> bytes:
        return b"c" + self._digest(client)

    def _digest(self, value: str) -> bytes:
        return hmac.new(self._key, value.encode("utf-8", "replace"), hashlib.sha256).digest()[:16]

    def _recent(self, key: bytes) -> deque[datetime]:
        now = self._clock.now()
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and now - failures[0] >= self.limits.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def wait_minutes(self, name: str, client: str) -> int:
        """0 when an attempt may be made now, else whole minutes until it may."""
        now = self._clock.now()
        waits = []
        for key, limit in (
            (self._name_key(name), self.limits.per_name),
            (self._client_key(client), self.limits.per_client),
        ):
            failures = self._recent(key)
            if len(failures) >= limit:
                until = failures[len(failures) - limit] + self.limits.window
                waits.append(until - now)
        if not waits:
            return 0
        return max(1, math.ceil(max(waits).total_seconds() / 60))

    def failed(self, name: str, client: str) -> None:
        now = self._clock.now()
        for key in (self._name_key(name), self._client_key(client)):
            self._recent(key)
            self._failures.setdefault(key, deque()).append(now)
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, name: str) -> None:
        self._failures.pop(self._name_key(name), None)

    def __repr__(self) -> str:
        return f"SignInThrottle(tracked={len(self._failures)}, limits={self.limits})"
