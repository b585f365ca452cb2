"""The support-line workflow of the program node: pure logic, no I/O, injectable clock.

Everything here follows the online chat practice guide for anti-violence programs that
the project works from, and is used by the program node and the console; nothing here
touches the network or disk.

Modules (one idea each):

- :mod:`~client_sdk.workflow.clock`: :class:`Clock` protocol, :class:`SystemClock`,
  :class:`ManualClock` (tests and simulations).
- :mod:`~client_sdk.workflow.notices`: :class:`CannedNotices` (rights and
  confidentiality, safety check-in, inactivity, closing, shift change, transfer,
  code-word request), editable, producing :class:`Notice` -> ``e2ee.payload.Notice``.
- :mod:`~client_sdk.workflow.staff`: :class:`StaffMember`, :class:`Role`, :class:`Shift`.
- :mod:`~client_sdk.workflow.engine`: :class:`Workflow`: queue, claim, transfer,
  escalation, shift hand-off, inactivity warning and close, duress alerts, code-word
  requests; ``tick(now)`` returns :mod:`~client_sdk.workflow.actions`.
- :mod:`~client_sdk.workflow.codewords`: :class:`CodeWordBook` (Argon2id hashes,
  attempts and lockout, rotation reminders).
- :mod:`~client_sdk.workflow.hours`: :class:`WeeklyHours` (IANA time zone, DST-aware
  ``is_open`` and ``next_change``).
- :mod:`~client_sdk.workflow.status`: :class:`StatusKeeper` (open / closed / busy /
  outage, alternatives, when to re-sign).
- :mod:`~client_sdk.workflow.prekeys`: signed prekey rotation and one-time prekey
  replenishment decisions, :class:`PrekeyRecord` for the keystore.
- :mod:`~client_sdk.workflow.settings`, :mod:`~client_sdk.workflow.errors`.

A minimal loop::

    wf = Workflow(clock=SystemClock(), staff=[...], status=StatusKeeper(hours))
    for action in wf.conversation_opened(cid): carry_out(action)
    ...
    every few seconds: for action in wf.tick(): carry_out(action)
"""

from client_sdk.workflow.actions import (
    Action,
    Assigned,
    AssignReason,
    CloseConversation,
    CloseReason,
    HandoffNeeded,
    PublishStatus,
    Queued,
    RequestCodeWord,
    ReturnedToQueue,
    SendNotice,
    ShiftEndingSoon,
    UrgentAlert,
)
from client_sdk.workflow.clock import Clock, ManualClock, SystemClock
from client_sdk.workflow.codewords import (
    CheckOutcome,
    CodeWordBook,
    CodeWordCheck,
    CodeWordPolicy,
    CodeWordRecord,
    normalize_code_word,
)
from client_sdk.workflow.engine import ConversationView, Workflow
from client_sdk.workflow.errors import (
    InvalidSetting,
    InvalidState,
    InvalidTime,
    NoOneAvailable,
    NotEligible,
    UnknownConversation,
    UnknownStaff,
    WorkflowError,
)
from client_sdk.workflow.hours import HoursChange, OpeningSpan, WeeklyHours
from client_sdk.workflow.notices import CannedNotices, Notice, NoticeKind, RightsNotice
from client_sdk.workflow.prekeys import (
    GeneratedPrekey,
    PrekeyPolicy,
    PrekeyRecord,
    SignedPrekeyPlan,
    expired_one_time_prekeys,
    make_prekey,
    next_prekey_ids,
    one_time_prekeys_to_generate,
    plan_signed_prekeys,
)
from client_sdk.workflow.settings import WorkflowSettings
from client_sdk.workflow.staff import Role, Shift, StaffMember
from client_sdk.workflow.status import (
    Alternative,
    StatusBody,
    StatusKeeper,
    StatusMessages,
    StatusPolicy,
    StatusState,
)

__all__ = [
    "Action",
    "Alternative",
    "AssignReason",
    "Assigned",
    "CannedNotices",
    "CheckOutcome",
    "Clock",
    "CloseConversation",
    "CloseReason",
    "CodeWordBook",
    "CodeWordCheck",
    "CodeWordPolicy",
    "CodeWordRecord",
    "ConversationView",
    "GeneratedPrekey",
    "HandoffNeeded",
    "HoursChange",
    "InvalidSetting",
    "InvalidState",
    "InvalidTime",
    "ManualClock",
    "NoOneAvailable",
    "NotEligible",
    "Notice",
    "NoticeKind",
    "OpeningSpan",
    "PrekeyPolicy",
    "PrekeyRecord",
    "PublishStatus",
    "Queued",
    "RequestCodeWord",
    "ReturnedToQueue",
    "RightsNotice",
    "Role",
    "SendNotice",
    "Shift",
    "ShiftEndingSoon",
    "SignedPrekeyPlan",
    "StaffMember",
    "StatusBody",
    "StatusKeeper",
    "StatusMessages",
    "StatusPolicy",
    "StatusState",
    "SystemClock",
    "UnknownConversation",
    "UnknownStaff",
    "UrgentAlert",
    "WeeklyHours",
    "Workflow",
    "WorkflowError",
    "WorkflowSettings",
    "expired_one_time_prekeys",
    "make_prekey",
    "next_prekey_ids",
    "normalize_code_word",
    "one_time_prekeys_to_generate",
    "plan_signed_prekeys",
]
