"""The conversation workflow of a support line: queue, assignment, timers, alerts.

:class:`Workflow` is a state machine with no I/O. The program node tells it what
happened (a conversation arrived, the participant or staff wrote, the participant left
or sent a duress signal), staff give commands through the console (claim, transfer,
escalate, hand off, close, ask for a code word), and :meth:`Workflow.tick` is called
regularly (every few seconds) with the clock's time. Each call returns the
:mod:`~client_sdk.workflow.actions` to carry out, in order. The same calls at the same
times give the same actions.

Rules (settings in :class:`~client_sdk.workflow.settings.WorkflowSettings`):

- **Arrival**: while the status keeper says closed or outage, a new conversation gets
  the closed notice and is closed. Otherwise it waits in the queue (arrival order; a
  conversation that sent a duress signal goes first) and gets the safety check-in.
- **Claim**: a staff member takes a waiting conversation, or the next one
  (:meth:`Workflow.take_next`), only when on shift, not in the last
  ``shift_end_buffer`` of the shift, and holding fewer than ``max_active_per_staff``.
- **Transfer** to another staff member (same eligibility) or **escalation** to a
  supervisor (only needs to be on shift; capacity does not apply): the participant gets
  the transfer notice ("someone else is now answering you").
- **Shift end**: when a shift enters its last ``shift_end_buffer`` the staff member gets
  one :class:`~client_sdk.workflow.actions.ShiftEndingSoon`; when it ends, their open
  conversations are handed to eligible colleagues (under capacity first, staff before
  supervisors, then fewest conversations, then id) with the shift-change notice, or,
  when nobody is eligible, put back at the head of the queue with a
  :class:`~client_sdk.workflow.actions.HandoffNeeded` alert to the supervisors on
  shift. Whoever later claims it sends the shift-change notice.
- **Inactivity**: the participant-silence timer runs from the last staff message when
  it is later than the participant's last message (a staff member still answering, or
  a conversation waiting in the queue, is not participant silence; notices do not
  count). A conversation put back in the queue starts again from the next staff
  message. After ``inactivity_warning_after`` the inactivity notice is sent, after a
  further ``inactivity_close_after`` the closing notice and the close. Any participant
  message clears the warning.
- **Every close** sends the closing notice first (except when the participant already
  left: there is nobody to tell).
- **Duress**: an :class:`~client_sdk.workflow.actions.UrgentAlert` for the assigned staff
  member and every supervisor on shift (everyone on shift if there is no supervisor).
- **Code words**: staff may ask at any point; answers are checked by
  :class:`~client_sdk.workflow.codewords.CodeWordBook` and never kept.

State lives in memory. :meth:`Workflow.export_state` and :meth:`Workflow.import_state`
carry it across a restart (to be kept sealed, in the keystore: it names open
conversations and their times). Only open conversations are in it, so a closed one
leaves nothing behind. Staff, settings, notices and code-word records are configuration
and are not part of it; code-word attempt counters are not kept across restarts.
``ProgramClient`` keeps the state in its keystore, written with every save, and
imports it when it connects (``staff_pending``: its staff may be registered after).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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
from client_sdk.workflow.clock import Clock, utc
from client_sdk.workflow.codewords import CodeWordBook, CodeWordCheck, alias_key
from client_sdk.workflow.errors import (
    InvalidSetting,
    InvalidState,
    NoOneAvailable,
    NotEligible,
    UnknownConversation,
    UnknownStaff,
)
from client_sdk.workflow.notices import CannedNotices
from client_sdk.workflow.settings import WorkflowSettings
from client_sdk.workflow.staff import Role, StaffMember
from client_sdk.workflow.status import StatusKeeper

__all__ = ["ConversationView", "Workflow"]


@dataclass
class _Conversation:
    conversation_id: str
    seq: int
    opened_at: datetime
    assigned_to: str | None = None
    previous: str | None = None
    urgent: bool = False
    last_participant_at: datetime | None = None
    last_staff_at: datetime | None = None
    warned_at: datetime | None = None

    def __setattr__(self, name: str, value: object) -> None:
        # any change marks the row for the next export_changes (a save writes only it)
        object.__setattr__(self, name, value)
        object.__setattr__(self, "changed", True)

    def row(self) -> dict[str, object]:
        def t(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "id": self.conversation_id,
            "seq": self.seq,
            "opened_at": t(self.opened_at),
            "assigned_to": self.assigned_to,
            "previous": self.previous,
            "urgent": self.urgent,
            "last_participant_at": t(self.last_participant_at),
            "last_staff_at": t(self.last_staff_at),
            "warned_at": t(self.warned_at),
        }


def _return_to_queue(c: _Conversation, *, urgent: bool = True) -> None:
    """Nobody holds ``c`` any more: it goes to the head of the queue (``urgent``; else
    it keeps its own place and urgency), and the silence timers start again when the
    next staff member writes (waiting is not silence)."""
    c.previous, c.assigned_to = c.assigned_to, None
    c.urgent = c.urgent or urgent
    c.last_staff_at = c.warned_at = None


@dataclass(frozen=True)
class ConversationView:
    """A read-only snapshot of one open conversation, for the console."""

    conversation_id: str
    opened_at: datetime
    assigned_to: str | None
    urgent: bool
    warned: bool
    last_participant_at: datetime | None
    last_staff_at: datetime | None

    @property
    def waiting(self) -> bool:
        return self.assigned_to is None


class Workflow:
    """Queue, assignment, inactivity and alerts for one program node."""

    def __init__(
        self,
        *,
        clock: Clock,
        settings: WorkflowSettings | None = None,
        notices: CannedNotices | None = None,
        staff: Iterable[StaffMember] = (),
        status: StatusKeeper | None = None,
        codewords: CodeWordBook | None = None,
    ) -> None:
        self.clock = clock
        self.settings = settings or WorkflowSettings()
        self.notices = notices or CannedNotices()
        self.status = status
        self.codewords = codewords or CodeWordBook()
        self._staff: dict[str, StaffMember] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._exported: set[str] = set()  # conversations written by export_changes
        self._seq = 0
        self._reminded: set[tuple[str, datetime]] = set()
        for member in staff:
            self.set_staff(member)

    def __repr__(self) -> str:
        return f"Workflow({len(self._conversations)} open, {len(self._staff)} staff)"

    def _now(self, moment: datetime | None = None) -> datetime:
        return utc(moment if moment is not None else self.clock.now())

    # -- staff ---------------------------------------------------------------------

    def set_staff(self, member: StaffMember) -> None:
        """Add a staff member or replace their record (e.g. new shifts)."""
        self._staff[member.staff_id] = member

    def remove_staff(self, staff_id: str) -> None:
        """Remove someone who holds no conversation (hand them off first)."""
        self.staff(staff_id)
        if self.assigned(staff_id):
            raise InvalidState(f"{staff_id} still holds conversations; hand them off first")
        del self._staff[staff_id]

    def staff(self, staff_id: str) -> StaffMember:
        try:
            return self._staff[staff_id]
        except KeyError:
            raise UnknownStaff(staff_id) from None

    def staff_members(self) -> list[StaffMember]:
        return [self._staff[k] for k in sorted(self._staff)]

    def eligible_staff(self, moment: datetime | None = None) -> list[StaffMember]:
        """Everyone who may be given a new conversation now (capacity aside)."""
        now = self._now(moment)
        buffer = self.settings.shift_end_buffer
        return [m for m in self.staff_members() if m.eligible_for_new(now, buffer)]

    def _supervisors_on_shift(self, now: datetime) -> tuple[str, ...]:
        return tuple(
            m.staff_id for m in self.staff_members() if m.is_supervisor and m.on_shift(now)
        )

    def _alert_list(self, now: datetime, *also: str | None) -> tuple[str, ...]:
        supervisors = self._supervisors_on_shift(now)
        if not supervisors:
            supervisors = tuple(m.staff_id for m in self.staff_members() if m.on_shift(now))
        first = tuple(s for s in also if s is not None)
        return first + tuple(s for s in supervisors if s not in first)

    # -- queries -------------------------------------------------------------------

    def _conv(self, conversation_id: str) -> _Conversation:
        try:
            return self._conversations[conversation_id]
        except KeyError:
            raise UnknownConversation(conversation_id) from None

    def conversation(self, conversation_id: str) -> ConversationView:
        c = self._conv(conversation_id)
        return ConversationView(
            c.conversation_id,
            c.opened_at,
            c.assigned_to,
            c.urgent,
            c.warned_at is not None,
            c.last_participant_at,
            c.last_staff_at,
        )

    def open_conversations(self) -> list[str]:
        """Every open conversation, in arrival order."""
        return [
            c.conversation_id for c in sorted(self._conversations.values(), key=lambda c: c.seq)
        ]

    def waiting(self) -> list[str]:
        """The queue: urgent first, then arrival order."""
        queue = [c for c in self._conversations.values() if c.assigned_to is None]
        queue.sort(key=lambda c: (not c.urgent, c.seq))
        return [c.conversation_id for c in queue]

    def assigned(self, staff_id: str) -> list[str]:
        """Conversations ``staff_id`` holds, in arrival order."""
        held = [c for c in self._conversations.values() if c.assigned_to == staff_id]
        return [c.conversation_id for c in sorted(held, key=lambda c: c.seq)]

    def load(self, staff_id: str) -> int:
        return sum(1 for c in self._conversations.values() if c.assigned_to == staff_id)

    def at_capacity(self, moment: datetime | None = None) -> bool:
        """Every eligible staff member's share is taken (waiting conversations count)."""
        capacity = self.settings.max_active_per_staff * len(self.eligible_staff(moment))
        return len(self._conversations) >= capacity

    def accepting_new(self, moment: datetime | None = None) -> bool:
        """Whether the program takes new conversations now ("no new chats" otherwise)."""
        now = self._now(moment)
        at_capacity = self.at_capacity(now)
        if self.status is not None:
            return self.status.accepting_new(now, at_capacity=at_capacity)
        return not at_capacity

    # -- events from the program node ----------------------------------------------

    def conversation_opened(self, conversation_id: str) -> list[Action]:
        """A participant opened a conversation."""
        now = self._now()
        if conversation_id in self._conversations:
            raise InvalidState(f"conversation {conversation_id} is already open")
        if self.status is not None and self.status.refuses_new(now):
            return [
                SendNotice(conversation_id, self.notices.closed_now_notice()),
                CloseConversation(conversation_id, CloseReason.CLOSED_HOURS),
            ]
        self._seq += 1
        self._conversations[conversation_id] = _Conversation(conversation_id, self._seq, now)
        actions: list[Action] = []
        if self.settings.send_rights_notice:
            actions.append(SendNotice(conversation_id, self.notices.rights_notice()))
        if self.settings.send_safety_check_in:
            actions.append(SendNotice(conversation_id, self.notices.safety_check_in_notice()))
        actions.append(Queued(conversation_id, self.waiting().index(conversation_id) + 1))
        return actions

    def participant_message(self, conversation_id: str) -> list[Action]:
        """The participant wrote (any authenticated payload): silence ends."""
        c = self._conv(conversation_id)
        c.last_participant_at = self._now()
        c.warned_at = None
        return []

    def staff_message(self, conversation_id: str) -> list[Action]:
        """Staff wrote a message: the participant-silence timer starts."""
        c = self._conv(conversation_id)
        if c.assigned_to is None:
            raise InvalidState(f"conversation {conversation_id} is not assigned")
        c.last_staff_at = self._now()
        return []

    def participant_left(self, conversation_id: str) -> list[Action]:
        """The participant closed or left: forget the conversation (nobody to notify)."""
        self._conv(conversation_id)
        self._forget(conversation_id)
        return []

    def duress(self, conversation_id: str) -> list[Action]:
        """The participant sent a duress signal."""
        now = self._now()
        c = self._conv(conversation_id)
        c.urgent = True
        return [
            UrgentAlert(
                conversation_id, "duress", self._alert_list(now, c.assigned_to), c.assigned_to
            )
        ]

    # -- staff commands -------------------------------------------------------------

    def _check_can_take(self, member: StaffMember, now: datetime) -> None:
        if not member.on_shift(now):
            raise NotEligible(f"{member.staff_id} is not on shift")
        if not member.eligible_for_new(now, self.settings.shift_end_buffer):
            raise NotEligible(f"{member.staff_id} is in the last minutes of their shift")
        if self.load(member.staff_id) >= self.settings.max_active_per_staff:
            raise NotEligible(f"{member.staff_id} already holds the most conversations allowed")

    def claim(self, conversation_id: str, staff_id: str) -> list[Action]:
        """``staff_id`` takes a waiting conversation."""
        now = self._now()
        c = self._conv(conversation_id)
        member = self.staff(staff_id)
        if c.assigned_to is not None:
            raise InvalidState(f"conversation {conversation_id} is already assigned")
        self._check_can_take(member, now)
        c.assigned_to = staff_id
        actions: list[Action] = [
            Assigned(conversation_id, staff_id, AssignReason.CLAIM, c.previous)
        ]
        if c.previous is not None and c.previous != staff_id:
            actions.append(SendNotice(conversation_id, self.notices.shift_change_notice()))
        c.previous = None
        return actions

    def take_next(self, staff_id: str) -> list[Action]:
        """``staff_id`` takes the first conversation of the queue; [] if it is empty."""
        queue = self.waiting()
        if not queue:
            self.staff(staff_id)
            return []
        return self.claim(queue[0], staff_id)

    def transfer(self, conversation_id: str, to_staff_id: str) -> list[Action]:
        """Hand an assigned conversation to another staff member (or a supervisor)."""
        now = self._now()
        c = self._conv(conversation_id)
        target = self.staff(to_staff_id)
        if c.assigned_to is None:
            raise InvalidState(f"conversation {conversation_id} is waiting; claim it instead")
        if c.assigned_to == to_staff_id:
            raise InvalidState(f"{to_staff_id} already holds conversation {conversation_id}")
        if target.is_supervisor:
            if not target.on_shift(now):
                raise NotEligible(f"{to_staff_id} is not on shift")
            reason = AssignReason.SUPERVISOR
        else:
            self._check_can_take(target, now)
            reason = AssignReason.TRANSFER
        previous, c.assigned_to = c.assigned_to, to_staff_id
        return [
            Assigned(conversation_id, to_staff_id, reason, previous),
            SendNotice(conversation_id, self.notices.transfer_notice()),
        ]

    def escalate(self, conversation_id: str) -> list[Action]:
        """Transfer to the supervisor on shift holding the fewest conversations."""
        now = self._now()
        c = self._conv(conversation_id)
        buffer = self.settings.shift_end_buffer
        candidates = [
            m
            for m in self.staff_members()
            if m.is_supervisor and m.on_shift(now) and m.staff_id != c.assigned_to
        ]
        if not candidates:
            raise NoOneAvailable("no supervisor is on shift")
        best = min(
            candidates,
            key=lambda m: (not m.eligible_for_new(now, buffer), self.load(m.staff_id), m.staff_id),
        )
        if c.assigned_to is None:
            c.assigned_to = best.staff_id
            return [
                Assigned(conversation_id, best.staff_id, AssignReason.SUPERVISOR, c.previous),
                SendNotice(conversation_id, self.notices.transfer_notice()),
            ]
        return self.transfer(conversation_id, best.staff_id)

    def hand_off(self, staff_id: str, moment: datetime | None = None) -> list[Action]:
        """Shift change: hand every conversation ``staff_id`` holds to someone eligible."""
        now = self._now(moment)
        self.staff(staff_id)
        buffer = self.settings.shift_end_buffer
        cap = self.settings.max_active_per_staff
        actions: list[Action] = []
        for cid in self.assigned(staff_id):
            c = self._conversations[cid]
            candidates = [
                m
                for m in self.staff_members()
                if m.staff_id != staff_id and m.eligible_for_new(now, buffer)
            ]
            if candidates:
                best = min(
                    candidates,
                    key=lambda m: (
                        self.load(m.staff_id) >= cap,
                        m.role is not Role.STAFF,
                        self.load(m.staff_id),
                        m.staff_id,
                    ),
                )
                c.assigned_to = best.staff_id
                actions.append(Assigned(cid, best.staff_id, AssignReason.SHIFT_CHANGE, staff_id))
                actions.append(SendNotice(cid, self.notices.shift_change_notice()))
            else:
                _return_to_queue(c)
                actions.append(ReturnedToQueue(cid, staff_id))
                actions.append(HandoffNeeded(cid, staff_id, self._alert_list(now)))
        return actions

    def close(self, conversation_id: str, reason: CloseReason = CloseReason.STAFF) -> list[Action]:
        """Close a conversation: the closing notice, then the close."""
        self._conv(conversation_id)
        return self._close(conversation_id, reason)

    def _close(self, conversation_id: str, reason: CloseReason) -> list[Action]:
        self._forget(conversation_id)
        return [
            SendNotice(conversation_id, self.notices.closing_notice()),
            CloseConversation(conversation_id, reason),
        ]

    def _forget(self, conversation_id: str) -> None:
        del self._conversations[conversation_id]
        self.codewords.forget_conversation(conversation_id)

    def request_code_word(self, conversation_id: str, alias: str) -> list[Action]:
        """Ask the participant for the code word of ``alias`` (at any point)."""
        self._conv(conversation_id)
        key = alias_key(alias)
        return [RequestCodeWord(conversation_id, key, self.notices.code_word_request_notice())]

    def check_code_word(self, conversation_id: str, alias: str, answer: str) -> CodeWordCheck:
        """Check the participant's answer; it is verified and dropped, never kept."""
        self._conv(conversation_id)
        return self.codewords.check(conversation_id, alias, answer, self._now())

    # -- persistence ----------------------------------------------------------------

    def export_state(self) -> bytes:
        """Open conversations and their timers as JSON bytes (for the keystore)."""
        rows = [c.row() for c in sorted(self._conversations.values(), key=lambda c: c.seq)]
        state = {"v": 1, "seq": self._seq, "conversations": rows}
        return json.dumps(state, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def export_changes(self) -> tuple[bytes, dict[str, bytes | None]]:
        """What changed since the last call, for a store that keeps a record per
        conversation: the state without its conversations (``seq``), and the row of each
        conversation that changed (``None``: it is gone). Its cost is the size of the
        change, not the number of open conversations. :meth:`import_state` takes the
        state with the rows put back in its ``conversations`` list."""
        rows: dict[str, bytes | None] = {}
        for cid, c in self._conversations.items():
            if c.__dict__.get("changed", True):
                rows[cid] = json.dumps(c.row(), sort_keys=True, separators=(",", ":")).encode()
                object.__setattr__(c, "changed", False)
        for cid in self._exported - self._conversations.keys():
            rows[cid] = None
        self._exported = set(self._conversations)
        head = {"v": 1, "seq": self._seq, "conversations": []}
        return json.dumps(head, sort_keys=True, separators=(",", ":")).encode("utf-8"), rows

    def import_state(self, data: bytes, *, staff_pending: bool = False) -> None:
        """Replace the open conversations with an :meth:`export_state` snapshot.

        A conversation held by someone no longer on the staff list goes back to the
        head of the queue (as after a hand-off nobody could take), its silence timers
        cleared. With ``staff_pending`` (the staff may be registered only after this,
        as a program node restores its state before the integrator's ``set_staff``),
        it goes back to the queue in its own place, as urgent as it was.
        """

        def t(value: object, *, optional: bool = True) -> datetime | None:
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise InvalidSetting("malformed workflow state")
            return utc(datetime.fromisoformat(value))

        def opt_str(value: object) -> str | None:
            if value is not None and not isinstance(value, str):
                raise InvalidSetting("malformed workflow state")
            return value

        try:
            state = json.loads(data.decode("utf-8"))
            if not isinstance(state, dict) or state.get("v") != 1:
                raise InvalidSetting("unsupported workflow state")
            seq, rows = state["seq"], state["conversations"]
            if not isinstance(seq, int) or not isinstance(rows, list):
                raise InvalidSetting("malformed workflow state")
            conversations: dict[str, _Conversation] = {}
            for row in rows:
                cid, row_seq, urgent = row["id"], row["seq"], row["urgent"]
                if not isinstance(cid, str) or not isinstance(row_seq, int):
                    raise InvalidSetting("malformed workflow state")
                if not isinstance(urgent, bool) or cid in conversations:
                    raise InvalidSetting("malformed workflow state")
                opened_at = t(row["opened_at"], optional=False)
                assert opened_at is not None
                c = _Conversation(
                    conversation_id=cid,
                    seq=row_seq,
                    opened_at=opened_at,
                    assigned_to=opt_str(row["assigned_to"]),
                    previous=opt_str(row["previous"]),
                    urgent=urgent,
                    last_participant_at=t(row["last_participant_at"]),
                    last_staff_at=t(row["last_staff_at"]),
                    warned_at=t(row["warned_at"]),
                )
                if c.assigned_to is not None and c.assigned_to not in self._staff:
                    _return_to_queue(c, urgent=not staff_pending)
                conversations[cid] = c
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, InvalidSetting):
                raise
            raise InvalidSetting("malformed workflow state") from None
        self._conversations = conversations
        self._seq = max([seq, *(c.seq for c in conversations.values())])

    # -- timers ---------------------------------------------------------------------

    def tick(self, moment: datetime | None = None) -> list[Action]:
        """Run every timer at ``moment`` (default: the clock's now)."""
        now = self._now(moment)
        actions: list[Action] = []
        warn_after = self.settings.inactivity_warning_after
        close_after = self.settings.inactivity_close_after
        for cid in self.open_conversations():
            c = self._conversations[cid]
            if c.assigned_to is None or c.last_staff_at is None:
                continue
            if c.last_participant_at is not None and c.last_participant_at >= c.last_staff_at:
                continue
            if c.warned_at is None:
                if now - c.last_staff_at >= warn_after:
                    c.warned_at = now
                    minutes = math.ceil(close_after.total_seconds() / 60)
                    actions.append(SendNotice(cid, self.notices.inactivity_notice(minutes)))
            elif now - c.warned_at >= close_after:
                actions += self._close(cid, CloseReason.INACTIVITY)
        buffer = self.settings.shift_end_buffer
        self._reminded = {(s, end) for s, end in self._reminded if end > now}
        for member in self.staff_members():
            end = member.shift_end(now)
            if (
                end is not None
                and end - now <= buffer
                and (member.staff_id, end) not in self._reminded
            ):
                self._reminded.add((member.staff_id, end))
                actions.append(
                    ShiftEndingSoon(member.staff_id, tuple(self.assigned(member.staff_id)))
                )
            if (
                end is None
                and self.settings.auto_handoff_at_shift_end
                and self.assigned(member.staff_id)
            ):
                actions += self.hand_off(member.staff_id, now)
        if self.status is not None:
            body = self.status.due(now, at_capacity=self.at_capacity(now))
            if body is not None:
                actions.append(PublishStatus(body))
        return actions
