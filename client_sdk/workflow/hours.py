"""Posted hours: a weekly schedule in the program's IANA time zone.

The profile carries ``hours`` as ``{"timezone": IANA name, "weekly": [{"day": 0..6
(Monday = 0), "open": "HH:MM", "close": "HH:MM"}], "closures": [{"date": "YYYY-MM-DD",
"label": text}]}`` (docs/protocol.md; ``closures`` optional).
:class:`WeeklyHours` reads and writes that form and answers :meth:`WeeklyHours.is_open`
and :meth:`WeeklyHours.next_change` for an aware instant.

Rules:

- ``close`` may be ``"24:00"`` (end of the day). A ``close`` at or before ``open`` means
  the span runs past midnight into the next day (``22:00``-``06:00``).
- A closure (a holiday, a one-off closure) closes its whole local calendar day, from
  midnight to midnight in the program's zone, whatever the spans say; a span running
  into or out of a closed day stops or starts at that midnight.
- Spans that touch or overlap are merged, so ``day 0 00:00-24:00`` and ``day 1
  00:00-08:00`` is one opening.
- Daylight saving time is handled by converting each wall-clock time of each date with
  :mod:`zoneinfo`: an opening is always at the stated local time. A wall time that does
  not exist (the hour skipped in spring) is read with the offset in force before the
  change (PEP 495, ``fold=0``), so it falls that much after the jump; a wall time that
  happens twice (autumn) means its first occurrence. Thus a 22:00-06:00 night is one
  hour shorter in spring and one hour longer in autumn, as the clocks on the wall say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from client_sdk.workflow.clock import utc
from client_sdk.workflow.errors import InvalidSetting
from e2ee import identity as _identity
from e2ee.errors import LocalProtocolError

__all__ = ["HoursChange", "OpeningSpan", "WeeklyHours"]

_DAY_MINUTES = 24 * 60


def _minutes(hhmm: str) -> int:
    """Minutes from midnight of an ``HH:MM`` the protocol core already checked."""
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class OpeningSpan:
    """Open from ``open_minute`` on ``day`` (Monday = 0) until ``close_minute``.

    Minutes count from local midnight; ``close_minute`` 1440 is ``24:00``; a close at
    or before the open time is on the next day.
    """

    day: int
    open_minute: int
    close_minute: int

    def __post_init__(self) -> None:
        if type(self.day) is not int or not 0 <= self.day <= 6:
            raise InvalidSetting("day must be 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.open_minute < _DAY_MINUTES:
            raise InvalidSetting("open time out of range")
        if not 0 <= self.close_minute <= _DAY_MINUTES:
            raise InvalidSetting("close time out of range")

    @classmethod
    def parse(cls, day: int, open_: str, close: str) -> OpeningSpan:
        """From the profile's form, checked by its rule (``e2ee.identity.OpeningPeriod``)."""
        try:
            period = _identity.OpeningPeriod(day, open_, close)
        except LocalProtocolError as exc:
            raise InvalidSetting(str(exc)) from None
        return cls(period.day, _minutes(period.open), _minutes(period.close))

    @property
    def overnight(self) -> bool:
        return self.close_minute <= self.open_minute

    def to_profile(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "open": _format_hhmm(self.open_minute),
            "close": _format_hhmm(self.close_minute),
        }


@dataclass(frozen=True)
class HoursChange:
    """At ``at`` (UTC) chat opens (``opens`` true) or closes."""

    at: datetime
    opens: bool


def _cut(
    intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``intervals`` without ``[start, end)``."""
    out = []
    for a, b in intervals:
        if b <= start or a >= end:
            out.append((a, b))
            continue
        if a < start:
            out.append((a, start))
        if b > end:
            out.append((end, b))
    return out


def _local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    day = day + timedelta(days=minute // _DAY_MINUTES)
    minute %= _DAY_MINUTES
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class WeeklyHours:
    """A weekly schedule in an IANA time zone."""

    timezone: str
    spans: tuple[OpeningSpan, ...]
    # Whole local calendar days closed whatever the spans say (holidays, one-off closures).
    closures: tuple[_identity.Closure, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidSetting(f"unknown time zone: {self.timezone!r}") from None
        object.__setattr__(self, "spans", tuple(self.spans))
        object.__setattr__(self, "closures", tuple(self.closures))
        try:  # the profile's rule too (time zone form, number of periods), so it signs
            self.to_identity()
        except LocalProtocolError as exc:
            raise InvalidSetting(f"hours: {exc}") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- profile form ----------------------------------------------------------------

    @classmethod
    def from_profile(cls, data: Any) -> WeeklyHours:
        if not isinstance(data, dict) or not {"timezone", "weekly"} <= set(data) <= {
            "timezone",
            "weekly",
            "closures",
        }:
            raise InvalidSetting("hours must be {timezone, weekly} (and closures)")
        weekly = data["weekly"]
        if not isinstance(weekly, list):
            raise InvalidSetting("hours.weekly must be a list")
        spans = []
        for item in weekly:
            if not isinstance(item, dict) or set(item) != {"day", "open", "close"}:
                raise InvalidSetting("each hours entry must be {day, open, close}")
            spans.append(OpeningSpan.parse(item["day"], item["open"], item["close"]))
        closures = data.get("closures", [])
        if not isinstance(closures, list):
            raise InvalidSetting("hours.closures must be a list")
        parsed = []
        for item in closures:
            if not isinstance(item, dict) or set(item) != {"date", "label"}:
                raise InvalidSetting("each closure must be {date, label}")
            try:
                parsed.append(_identity.Closure(item["date"], item["label"]))
            except LocalProtocolError as exc:
                raise InvalidSetting(str(exc)) from None
        return cls(data["timezone"], tuple(spans), tuple(parsed))

    def to_profile(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "timezone": self.timezone,
            "weekly": [s.to_profile() for s in self.spans],
        }
        if self.closures:
            out["closures"] = [c.to_json() for c in self.closures]
        return out

    @classmethod
    def from_identity(cls, hours: _identity.Hours) -> WeeklyHours:
        """From a verified profile's hours (``e2ee.identity.Hours``)."""
        return cls.from_profile(hours.to_json())

    def to_identity(self) -> _identity.Hours:
        """For the signed profile (``e2ee.identity.Profile.hours``)."""
        return _identity.Hours(
            timezone=self.timezone,
            weekly=tuple(_identity.OpeningPeriod(**s.to_profile()) for s in self.spans),
            closures=self.closures,
        )

    # -- questions -------------------------------------------------------------------

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Merged open intervals (UTC) that meet ``[start, end)``, each a ``(from, to)``."""
        start, end = utc(start), utc(end)
        zone = self.zone
        first = start.astimezone(zone).date() - timedelta(days=2)
        last = end.astimezone(zone).date() + timedelta(days=1)
        raw: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            for span in self.spans:
                if span.day != day.weekday():
                    continue
                close = span.close_minute + (_DAY_MINUTES if span.overnight else 0)
                a = _local_to_utc(day, span.open_minute, zone)
                b = _local_to_utc(day, close, zone)
                if a < b:
                    raw.append((a, b))
            day += timedelta(days=1)
        raw.sort()
        merged: list[tuple[datetime, datetime]] = []
        for a, b in raw:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        for closed_from, closed_to in self._closed(first, last + timedelta(days=1)):
            merged = _cut(merged, closed_from, closed_to)
        return [(a, b) for a, b in merged if b > start and a < end]

    def _closed(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """The closed days between ``first`` and ``last`` (local dates), as UTC instants:
        from local midnight to the next local midnight."""
        zone = self.zone
        out = []
        for closure in self.closures:
            day = date.fromisoformat(closure.date)
            if first <= day <= last:
                out.append((_local_to_utc(day, 0, zone), _local_to_utc(day, _DAY_MINUTES, zone)))
        return out

    def closed_on(self, moment: datetime) -> _identity.Closure | None:
        """The closure of ``moment``'s local date, if that whole day is closed."""
        today = utc(moment).astimezone(self.zone).date().isoformat()
        return next((c for c in self.closures if c.date == today), None)

    def is_open(self, moment: datetime) -> bool:
        now = utc(moment)
        return any(a <= now < b for a, b in self.intervals(now, now + timedelta(seconds=1)))

    def next_change(self, moment: datetime) -> HoursChange | None:
        """The next instant after ``moment`` at which chat opens or closes.

        ``None`` when nothing ever changes (no spans, or open around the clock).
        """
        now = utc(moment)
        horizon = now + timedelta(days=8)
        for a, b in self.intervals(now, horizon):
            if a > now:
                return HoursChange(a, opens=True)
            if b < horizon:
                return HoursChange(b, opens=False)
            return None  # open through the whole horizon: always open
        return None
