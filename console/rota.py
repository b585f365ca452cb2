"""Each staff member's recurring weekly rota, with exceptions, sealed in the keystore.

A rota slot is a day of the week and a start and end time in the program's time zone
(the one of its posted hours); an end at or before the start means the slot runs past
midnight into the next day ("overnight"). Exceptions are per date: the date off (the
weekly slots starting that day do not apply), and extra slots on that date (with the
date off too, they replace the weekly ones: a changed slot).

How the rota drives shifts (see docs/admin-staff.md): the rota does not put anyone on
shift by itself (people say so in the console: someone who is ill is not on shift just
because the rota says so). Going on shift with no end given, inside a rota slot, takes
the slot's end as the shift's end, so the last-minutes rule and the hand-off happen at
the rota's time; outside any slot the console's usual shift length applies. Someone
whose slot is running but who is not on shift is shown as "due on shift" to admins.

Record ``console/rota`` (JSON): ``{staff_id: {"weekly": [{"day": 0-6, "from": "HH:MM",
"to": "HH:MM"}], "exceptions": [{"date": "YYYY-MM-DD", "off": bool, "slots":
[{"from", "to"}]}]}}``; Monday is day 0. The caller saves the keystore.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from client_sdk import store
from client_sdk.keystore import Keystore
from console.errors import NotAllowed

__all__ = ["DAYS", "ROTA", "Rota", "check_day", "check_time", "program_zone"]

ROTA = "console/rota"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SLOTS = 28
MAX_EXCEPTIONS = 200
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_day(value: Any) -> int:
    """``mon``..``sun`` (or 0-6) as 0-6; refuses anything else in plain words."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.strip().lower()[:3] in DAYS:
        return DAYS.index(value.strip().lower()[:3])
    raise NotAllowed("The day must be one of mon, tue, wed, thu, fri, sat, sun.")


def check_time(value: Any, what: str) -> str:
    """``HH:MM`` (24-hour clock, 00:00 to 23:59)."""
    if isinstance(value, str) and _TIME.match(value.strip()):
        return value.strip()
    raise NotAllowed(f"The {what} time must be HH:MM on the 24-hour clock, e.g. 09:00 or 17:30.")


def check_date(value: Any) -> str:
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise NotAllowed("The date must be YYYY-MM-DD, e.g. 2026-12-24.") from None


def program_zone(keystore: Keystore) -> ZoneInfo:
    """The time zone of the program's posted hours (UTC when it has none)."""
    content = store.get_json(keystore, store.PROFILE_CONTENT) or {}
    name = (content.get("hours") or {}).get("timezone") or "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _hm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _span(day: date, start: str, end: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    begin = datetime.combine(day, _hm(start), zone)
    finish = datetime.combine(day, _hm(end), zone)
    if finish <= begin:  # overnight
        finish = datetime.combine(day + timedelta(days=1), _hm(end), zone)
    return begin, finish


class Rota:
    """The rota of every staff member in one open keystore."""

    def __init__(self, keystore: Keystore) -> None:
        self._ks = keystore

    def all(self) -> dict[str, dict[str, Any]]:
        data = store.get_json(self._ks, ROTA)
        return data if isinstance(data, dict) else {}

    def of(self, staff_id: str) -> dict[str, Any]:
        entry = self.all().get(staff_id) or {}
        return {
            "weekly": list(entry.get("weekly", [])),
            "exceptions": list(entry.get("exceptions", [])),
        }

    def _put(self, staff_id: str, entry: dict[str, Any]) -> None:
        data = self.all()
        if entry["weekly"] or entry["exceptions"]:
            entry["weekly"].sort(key=lambda s: (s["day"], s["from"]))
            entry["exceptions"].sort(key=lambda e: e["date"])
            data[staff_id] = entry
        else:
            data.pop(staff_id, None)
        store.put_json(self._ks, ROTA, data)

    def add_slot(self, staff_id: str, day: Any, start: Any, end: Any) -> dict[str, Any]:
        slot = {
            "day": check_day(day),
            "from": check_time(start, "start"),
            "to": check_time(end, "end"),
        }
        if slot["from"] == slot["to"]:
            raise NotAllowed("A rota slot must end at another time than it starts.")
        entry = self.of(staff_id)
        if slot in entry["weekly"]:
            raise NotAllowed("That slot is already in the rota.")
        if len(entry["weekly"]) >= MAX_SLOTS:
            raise NotAllowed(f"A rota has at most {MAX_SLOTS} weekly slots.")
        entry["weekly"].append(slot)
        self._put(staff_id, entry)
        return entry

    def clear(self, staff_id: str, day: Any = None) -> dict[str, Any]:
        """Remove the weekly slots of ``day`` (every day when None)."""
        entry = self.of(staff_id)
        if day is None:
            entry["weekly"] = []
        else:
            number = check_day(day)
            entry["weekly"] = [s for s in entry["weekly"] if s["day"] != number]
        self._put(staff_id, entry)
        return entry

    def set_exception(
        self, staff_id: str, on: Any, *, off: bool, start: Any = None, end: Any = None
    ) -> dict[str, Any]:
        """On date ``on``: off (``off``), and/or an extra slot (``start``-``end``)."""
        when = check_date(on)
        entry = self.of(staff_id)
        found = next((e for e in entry["exceptions"] if e["date"] == when), None)
        if found is None:
            if len(entry["exceptions"]) >= MAX_EXCEPTIONS:
                raise NotAllowed(f"A rota has at most {MAX_EXCEPTIONS} exceptions.")
            found = {"date": when, "off": False, "slots": []}
            entry["exceptions"].append(found)
        if (start is None) != (end is None):
            raise NotAllowed("Give both the start and the end of the slot, or neither.")
        if start is None and not off:
            raise NotAllowed("Say the date is off, or give a slot (start and end) on it.")
        found["off"] = bool(off) or bool(found.get("off"))
        if start is not None:
            slot = {"from": check_time(start, "start"), "to": check_time(end, "end")}
            if slot["from"] == slot["to"]:
                raise NotAllowed("A rota slot must end at another time than it starts.")
            if slot not in found["slots"]:
                found["slots"].append(slot)
        self._put(staff_id, entry)
        return entry

    def clear_exception(self, staff_id: str, on: Any) -> dict[str, Any]:
        when = check_date(on)
        entry = self.of(staff_id)
        before = len(entry["exceptions"])
        entry["exceptions"] = [e for e in entry["exceptions"] if e["date"] != when]
        if len(entry["exceptions"]) == before:
            raise NotAllowed(f"There is no exception on {when}.")
        self._put(staff_id, entry)
        return entry

    def forget(self, staff_id: str) -> None:
        self._put(staff_id, {"weekly": [], "exceptions": []})

    # -- when ------------------------------------------------------------------------

    def slots_starting(
        self, staff_id: str, day: date, zone: ZoneInfo
    ) -> list[tuple[datetime, datetime]]:
        """The slots that start on ``day`` (local), with exceptions applied."""
        entry = self.of(staff_id)
        found = next((e for e in entry["exceptions"] if e["date"] == day.isoformat()), None)
        spans = []
        if found is None or not found.get("off"):
            for slot in entry["weekly"]:
                if slot["day"] == day.weekday():
                    spans.append(_span(day, slot["from"], slot["to"], zone))
        for slot in (found or {}).get("slots", []):
            spans.append(_span(day, slot["from"], slot["to"], zone))
        return sorted(spans)

    def current(
        self, staff_id: str, moment: datetime, zone: ZoneInfo
    ) -> tuple[datetime, datetime] | None:
        """The rota slot running at ``moment`` (touching slots merged), or None."""
        local = moment.astimezone(zone).date()
        spans = []
        for offset in (-1, 0, 1):
            spans += self.slots_starting(staff_id, local + timedelta(days=offset), zone)
        spans.sort()
        current: tuple[datetime, datetime] | None = None
        for begin, finish in spans:
            if current is None:
                if begin <= moment < finish:
                    current = (begin, finish)
            elif begin <= current[1]:
                current = (current[0], max(current[1], finish))
        return current
