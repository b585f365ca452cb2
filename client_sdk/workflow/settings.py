"""Named settings of the conversation workflow, with defaults, checked at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from client_sdk.workflow.errors import InvalidSetting

__all__ = ["WorkflowSettings"]


@dataclass(frozen=True)
class WorkflowSettings:
    """Timers and limits of the workflow.

    - ``shift_end_buffer``: nobody is given a new conversation (claim, transfer,
      hand-off) in the last this-long of their shift (the guide's 30 minutes).
    - ``inactivity_warning_after`` (W): participant silence before the inactivity
      notice; ``inactivity_close_after`` (C): further silence before the chat closes.
    - ``max_active_per_staff``: conversations one person holds at once; when every
      eligible staff member is full, status is ``busy``.
    - ``send_safety_check_in``: send the safety check-in notice when a conversation
      arrives; ``send_rights_notice``: also send the rights notice then (the widget
      already shows the signed profile's notice before the participant types).
    - ``auto_handoff_at_shift_end``: at the end of a shift, hand open conversations to
      someone on shift (or back to the head of the queue, with an alert).
    """

    shift_end_buffer: timedelta = timedelta(minutes=30)
    inactivity_warning_after: timedelta = timedelta(minutes=10)
    inactivity_close_after: timedelta = timedelta(minutes=5)
    max_active_per_staff: int = 3
    send_safety_check_in: bool = True
    send_rights_notice: bool = False
    auto_handoff_at_shift_end: bool = True

    def __post_init__(self) -> None:
        if self.shift_end_buffer < timedelta(0):
            raise InvalidSetting("shift_end_buffer must not be negative")
        if self.inactivity_warning_after <= timedelta(0):
            raise InvalidSetting("inactivity_warning_after must be positive")
        if self.inactivity_close_after <= timedelta(0):
            raise InvalidSetting("inactivity_close_after must be positive")
        if self.max_active_per_staff < 1:
            raise InvalidSetting("max_active_per_staff must be at least 1")
