"""Staff members, their roles and their shifts.

A shift is one concrete stretch of work (aware start and end, stored in UTC). Shifts
that touch or overlap count as one: someone working 09:00-13:00 then 13:00-17:00 is in
the last minutes of their shift at 16:30, not at 12:30.

Eligibility for a *new* conversation (a claim, a transfer, a hand-off) follows the
guide: nobody starts a new conversation in the last ``shift_end_buffer`` of their
shift (default 30 minutes, :class:`~client_sdk.workflow.settings.WorkflowSettings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from client_sdk.workflow.clock import utc
from client_sdk.workflow.errors import InvalidSetting

__all__ = ["Role", "Shift", "StaffMember"]


class Role(StrEnum):
    STAFF = "staff"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Shift:
    """One stretch of work, ``start <= t < end``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end <= self.start:
            raise InvalidSetting("a shift must end after it starts")

    def contains(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end


@dataclass(frozen=True)
class StaffMember:
    """A support worker or supervisor. ``display_name`` is for the console only."""

    staff_id: str
    display_name: str
    role: Role = Role.STAFF
    shifts: tuple[Shift, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.staff_id, str) or not self.staff_id:
            raise InvalidSetting("staff_id must be a non-empty string")
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "shifts", tuple(sorted(self.shifts, key=lambda s: s.start)))

    @property
    def is_supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR

    def shift_end(self, moment: datetime) -> datetime | None:
        """When the (merged) shift covering ``moment`` ends, or ``None`` if off shift."""
        now = utc(moment)
        end: datetime | None = None
        for shift in self.shifts:
            if end is None:
                if shift.contains(now):
                    end = shift.end
            elif shift.start <= end:
                end = max(end, shift.end)
            else:
                break
        return end

    def on_shift(self, moment: datetime) -> bool:
        return self.shift_end(moment) is not None

    def in_last_minutes(self, moment: datetime, buffer: timedelta) -> bool:
        """On shift, but within ``buffer`` of its end."""
        end = self.shift_end(moment)
        return end is not None and end - utc(moment) <= buffer

    def eligible_for_new(self, moment: datetime, buffer: timedelta) -> bool:
        """On shift and not within the last ``buffer`` of it."""
        end = self.shift_end(moment)
        return end is not None and end - utc(moment) > buffer

    def with_shifts(self, *shifts: Shift) -> StaffMember:
        return StaffMember(self.staff_id, self.display_name, self.role, self.shifts + shifts)
