"""What the workflow asks its caller to do, and what it tells the console.

Every command and every :meth:`~client_sdk.workflow.engine.Workflow.tick` returns a list
of these frozen dataclasses, in the order they must be carried out (a closing notice
always comes before its :class:`CloseConversation`). The workflow does no I/O: the
program node sends notices and closes conversations; the console shows the rest.

=========================  ==================================================
action                     the caller ...
=========================  ==================================================
:class:`SendNotice`        sends ``notice`` in the conversation (protocol ``notice``)
:class:`RequestCodeWord`   sends the notice and a ``code_word_request`` payload
:class:`CloseConversation` closes the conversation (protocol ``close``, relay close)
:class:`PublishStatus`     signs ``body`` (label ``status``), publishes it, then calls
                           ``StatusKeeper.published(body)``
:class:`Queued`            shows the conversation waiting at ``position`` (1 = next)
:class:`Assigned`          shows who answers now (``previous`` on a transfer)
:class:`ReturnedToQueue`   shows that nobody holds it any more
:class:`HandoffNeeded`     alerts ``notify`` (supervisors): nobody could take it
:class:`ShiftEndingSoon`   reminds a staff member to wrap up or hand off
:class:`UrgentAlert`       alerts ``notify`` at once (duress)
=========================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from client_sdk.workflow.notices import Notice
from client_sdk.workflow.status import StatusBody
from e2ee import payload as _payload

__all__ = [
    "Action",
    "AssignReason",
    "Assigned",
    "CloseConversation",
    "CloseReason",
    "HandoffNeeded",
    "PublishStatus",
    "Queued",
    "RequestCodeWord",
    "ReturnedToQueue",
    "SendNotice",
    "ShiftEndingSoon",
    "UrgentAlert",
]


class CloseReason(StrEnum):
    STAFF = "staff"
    INACTIVITY = "inactivity"
    CLOSED_HOURS = "closed"


class AssignReason(StrEnum):
    CLAIM = "claim"
    TRANSFER = "transfer"
    SUPERVISOR = "supervisor"
    SHIFT_CHANGE = "shift_change"


@dataclass(frozen=True)
class SendNotice:
    conversation_id: str
    notice: Notice


@dataclass(frozen=True)
class RequestCodeWord:
    conversation_id: str
    alias: str
    notice: Notice

    def to_payloads(self, ts_ms: int) -> tuple[_payload.Notice, _payload.CodeWordRequest]:
        """The notice, then the ``code_word_request`` that opens the answer field."""
        return self.notice.to_payload(ts_ms), _payload.CodeWordRequest(alias=self.alias, ts=ts_ms)


@dataclass(frozen=True)
class CloseConversation:
    conversation_id: str
    reason: CloseReason


@dataclass(frozen=True)
class PublishStatus:
    body: StatusBody


@dataclass(frozen=True)
class Queued:
    conversation_id: str
    position: int


@dataclass(frozen=True)
class Assigned:
    conversation_id: str
    staff_id: str
    reason: AssignReason
    previous: str | None = None


@dataclass(frozen=True)
class ReturnedToQueue:
    conversation_id: str
    previous: str | None


@dataclass(frozen=True)
class HandoffNeeded:
    conversation_id: str
    previous: str
    notify: tuple[str, ...]


@dataclass(frozen=True)
class ShiftEndingSoon:
    staff_id: str
    conversation_ids: tuple[str, ...]


@dataclass(frozen=True)
class UrgentAlert:
    conversation_id: str
    kind: str
    notify: tuple[str, ...]
    assigned_to: str | None


Action = (
    SendNotice
    | RequestCodeWord
    | CloseConversation
    | PublishStatus
    | Queued
    | Assigned
    | ReturnedToQueue
    | HandoffNeeded
    | ShiftEndingSoon
    | UrgentAlert
)
