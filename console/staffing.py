"""Who works the line, and what the published status follows.

The availability rule lives in one place, the SDK's workflow, and the console only
feeds it: the posted hours come from the program's signed profile
(:func:`configure_status`), and who is on shift comes from the staff's own "on shift"
/ "off shift" in the console (:func:`member`, kept sealed in the keystore by
:class:`Shifts`). Then :meth:`client_sdk.workflow.StatusKeeper.desired` decides:

1. an ``outage`` or ``closed`` set by hand wins;
2. outside the posted hours: ``closed``;
3. when nobody on shift can take a conversation (nobody on shift, everyone in the last
   ``shift_end_buffer`` of their shift, or everyone full: ``Workflow.at_capacity``):
   ``busy``, and the widget turns participants away with the alternatives;
4. else ``open``: a participant can start a conversation.

The node re-signs the status whenever the answer changes (each tick, and at once after
a shift change), so with the default settings and one support worker on shift during
posted hours, the line is open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from client_sdk import publishing, store
from client_sdk import workflow as wf
from client_sdk.keystore import Keystore
from console import rules, status_override
from console.accounts import Account, StaffAccounts

__all__ = ["Shifts", "build_workflow", "configure_status", "member"]

SHIFTS = "console/shifts"


class Shifts:
    """Each staff member's current shift (start, end; Unix seconds), sealed in the keystore."""

    def __init__(self, keystore: Keystore) -> None:
        self._ks = keystore

    def all(self) -> dict[str, tuple[int, int]]:
        raw = store.get_json(self._ks, SHIFTS) or {}
        return {str(k): (int(v[0]), int(v[1])) for k, v in raw.items()}

    def get(self, staff_id: str) -> wf.Shift | None:
        span = self.all().get(staff_id)
        if span is None:
            return None
        return wf.Shift(datetime.fromtimestamp(span[0], UTC), datetime.fromtimestamp(span[1], UTC))

    def set(self, staff_id: str, shift: wf.Shift | None) -> None:
        spans: dict[str, Any] = {k: list(v) for k, v in self.all().items()}
        if shift is None:
            spans.pop(staff_id, None)
        else:
            spans[staff_id] = [int(shift.start.timestamp()), int(shift.end.timestamp())]
        store.put_json(self._ks, SHIFTS, spans)

    def prune(self, moment: datetime) -> None:
        """Forget shifts that have ended."""
        now = int(moment.timestamp())
        spans = {k: list(v) for k, v in self.all().items() if v[1] > now}
        if spans != {k: list(v) for k, v in self.all().items()}:
            store.put_json(self._ks, SHIFTS, spans)


def member(account: Account, shift: wf.Shift | None) -> wf.StaffMember:
    """The workflow's view of one staff account."""
    shifts = () if shift is None else (shift,)
    return wf.StaffMember(account.staff_id, account.name, account.role.workflow_role, shifts)


def configure_status(keeper: wf.StatusKeeper, keystore: Keystore) -> None:
    """Posted hours and alternatives from the program's profile (as signed and published),
    and the outage or closed status an admin forced, if any (kept in the keystore)."""
    content = store.get_json(keystore, store.PROFILE_CONTENT) or {}
    profile = publishing.profile_from_content(content, 0)
    keeper.hours = wf.WeeklyHours.from_identity(profile.hours)
    keeper.alternatives = tuple(profile.alternatives)
    status_override.apply(keeper, keystore)


def build_workflow(
    keystore: Keystore, clock: wf.Clock, settings: wf.WorkflowSettings | None = None
) -> wf.Workflow:
    """A workflow with every enabled account as staff (with their shifts), the program's
    shift rules (:mod:`console.rules`) and a status keeper following the profile's hours.
    Built before the node connects, so the saved assignments of a restarted node find
    their staff."""
    settings = rules.load(keystore).workflow_settings(settings)
    keeper = wf.StatusKeeper()
    configure_status(keeper, keystore)
    shifts = Shifts(keystore)
    staff = [
        member(account, shifts.get(account.staff_id))
        for account in StaffAccounts(keystore).list()
        if not account.disabled
    ]
    return wf.Workflow(clock=clock, settings=settings, staff=staff, status=keeper)
