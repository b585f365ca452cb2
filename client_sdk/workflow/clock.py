"""Time for the workflow: a :class:`Clock` protocol, the system clock and a manual one.

Every rule of the workflow reads time through a :class:`Clock` (or takes ``now`` as an
argument), never from the system directly, so tests drive every timer with a
:class:`ManualClock` and nothing ever sleeps. Times are aware datetimes in UTC; a
naive datetime is refused (:class:`~client_sdk.workflow.errors.InvalidTime`) because it
would silently mean "the host's local time".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from client_sdk.workflow.errors import InvalidTime

__all__ = ["Clock", "ManualClock", "SystemClock", "utc"]


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; refuses naive datetimes."""
    if not isinstance(moment, datetime):
        raise InvalidTime("expected a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidTime("naive datetime: pass an aware datetime (UTC)")
    return moment.astimezone(UTC)


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The host's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = utc(moment)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by ``delta`` or ``timedelta(**parts)``; never backwards."""
        step = delta if delta is not None else timedelta(**parts)
        if step < timedelta(0):
            raise InvalidTime("a clock does not go backwards")
        self._now = self._now + step
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
