"""What each staff account may see: the shift screen's snapshot, timelines, colleagues.

Security property: every read takes ``who`` and checks it against the account's
current record (a disabled account sees nothing). A support worker sees the waiting
conversations only as summaries, and reads only the conversations assigned to them;
supervisors and admins read all. An unknown id and an id the account may not see raise
the same :class:`~console.errors.NotFound`, with the same words, so ids cannot be
probed. Reads are synchronous.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from client_sdk import ProgramClient, store
from client_sdk import workflow as wf
from console import staffing
from console.accounts import Account, StaffAccounts
from console.errors import Forbidden, NotFound
from console.hub import Hub
from console.passwords import PasswordWork
from console.replies import SavedReplies
from console.settings import ConsoleSettings
from console.stat_events import EventCounter
from console.timeline import Timeline, label_for

log = logging.getLogger("console.node")


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@dataclass
class Alert:
    """An alert shown to the accounts in ``notify`` until one of them acknowledges it."""

    id: str
    kind: str
    conversation_id: str | None
    text: str
    at_ms: int
    notify: frozenset[str]
    label: str | None = None  # kept: a duress alert outlives its conversation


class ConsoleView:
    """What the node holds, and what each account may see of it (no I/O here).

    The attributes are set by :class:`console.node.ConsoleNode`'s constructor.
    """

    program: ProgramClient
    settings: ConsoleSettings
    workflow: wf.Workflow
    accounts: StaffAccounts
    passwords: PasswordWork
    replies: SavedReplies
    _shifts: staffing.Shifts
    statistics: EventCounter
    _hub: Hub
    _staff: dict[str, Account]
    _timelines: dict[str, Timeline]
    _labels: dict[str, str]
    _holders: dict[str, str | None]
    _queued_at: dict[str, int]
    _shown_waiting: dict[str, set[str]]
    _alerts: dict[str, Alert]
    _alert_numbers: int
    _consumer: asyncio.Task[None] | None
    _snapshot_due: bool
    _stats_save: asyncio.Task[None] | None
    _closed: bool
    _library: int

    @property
    def program_name(self) -> str:
        """The program's name, from its profile (shown in the console's header)."""
        content = store.get_json(self.program.keystore, store.PROFILE_CONTENT) or {}
        return str(content.get("name") or "Support line")

    def account(self, staff_id: str) -> Account | None:
        """The current, enabled account of ``staff_id`` (None when unknown or disabled)."""
        account = self._staff.get(staff_id)
        return None if account is None or account.disabled else account

    def _current(self, who: Account) -> Account:
        account = self.account(who.staff_id)
        if account is None:
            raise Forbidden("Your account is disabled. Ask an admin.")
        return account

    def _now(self) -> datetime:
        return self.workflow.clock.now()

    def _now_ms(self) -> int:
        return int(self._now().timestamp() * 1000)

    def _label(self, cid: str) -> str:
        label = self._labels.get(cid)
        if label is None:
            label = label_for(cid, self._labels.values())
            self._labels[cid] = label
        return label

    def _view(self, cid: str) -> wf.ConversationView | None:
        if cid not in self._timelines:
            return None
        try:
            return self.workflow.conversation(cid)
        except wf.UnknownConversation:
            return None

    def _readable(self, account: Account, cid: str) -> bool:
        """May ``account`` read this conversation's timeline (and its updates)?"""
        current = self.account(account.staff_id)
        if current is None or cid not in self._timelines:
            return False
        view = self._view(cid)
        holder = view.assigned_to if view is not None else self._holders.get(cid)
        return current.role.supervises or holder == current.staff_id

    def _visible(self, who: Account, cid: str) -> wf.ConversationView:
        """The conversation, if ``who`` may read it; else the one NotFound."""
        view = self._view(cid)
        if view is None or not (who.role.supervises or view.assigned_to == who.staff_id):
            raise NotFound()
        return view

    def _summary(self, view: wf.ConversationView) -> dict[str, Any]:
        holder = view.assigned_to
        account = self._staff.get(holder) if holder is not None else None
        return {
            "id": view.conversation_id,
            "label": self._label(view.conversation_id),
            "state": "waiting" if holder is None else "assigned",
            "assigned_to": holder,
            "assigned_name": account.name if account is not None else None,
            "opened_at_ms": _ms(view.opened_at),
            "waiting_since_ms": (
                self._queued_at.get(view.conversation_id, _ms(view.opened_at))
                if holder is None
                else None
            ),
            "last_participant_at_ms": _ms(view.last_participant_at),
            "urgent": view.urgent,
        }

    def _member(self, staff_id: str) -> wf.StaffMember | None:
        try:
            return self.workflow.staff(staff_id)
        except wf.UnknownStaff:
            return None

    def _me(self, who: Account, now: datetime) -> dict[str, Any]:
        member = self._member(who.staff_id)
        end = member.shift_end(now) if member is not None else None
        buffer = self.workflow.settings.shift_end_buffer
        return {
            "staff_id": who.staff_id,
            "name": who.name,
            "role": who.role.value,
            "on_shift": end is not None,
            "shift_ends_at_ms": _ms(end),
            "last_30": end is not None and end - now <= buffer,
        }

    def line(self) -> dict[str, Any]:
        """The line as participants see it: the published status, waiting, on shift."""
        now = self._now()
        keeper = self.workflow.status
        status = "busy"
        if keeper is not None:
            published = keeper.current
            if published is not None and published.expires > now:
                status = published.state.value
            else:
                status = keeper.desired(now, at_capacity=self.workflow.at_capacity(now))[0].value
        on_shift = sum(1 for m in self.workflow.staff_members() if m.on_shift(now))
        return {"status": status, "waiting": len(self._waiting()), "on_shift": on_shift}

    def _waiting(self) -> list[str]:
        return [cid for cid in self.workflow.waiting() if cid in self._timelines]

    def _alert_json(self, alert: Alert) -> dict[str, Any]:
        cid = alert.conversation_id
        return {
            "id": alert.id,
            "kind": alert.kind,
            "conversation_id": cid,
            "label": alert.label or (self._labels.get(cid) if cid is not None else None),
            "text": alert.text,
            "at_ms": alert.at_ms,
        }

    def snapshot(self, who: Account) -> dict[str, Any]:
        """Everything the shift screen shows to ``who`` (see docs/console.md)."""
        who = self._current(who)
        now = self._now()
        views = [v for v in map(self._view, self.workflow.open_conversations()) if v is not None]
        waiting = [self._summary(self.workflow.conversation(cid)) for cid in self._waiting()]
        self._shown_waiting.setdefault(who.staff_id, set()).update(s["id"] for s in waiting)
        mine = [self._summary(v) for v in views if v.assigned_to == who.staff_id]
        others = [
            self._summary(v)
            for v in views
            if who.role.supervises and v.assigned_to not in (None, who.staff_id)
        ]
        alerts = [self._alert_json(a) for a in self._alerts.values() if who.staff_id in a.notify]
        return {
            "me": self._me(who, now),
            "line": self.line(),
            "waiting": waiting,
            "mine": mine,
            "others": others,
            "alerts": alerts,
            "library": self._library,
        }

    def timeline(self, who: Account, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's entries so far (for the holder, or a supervisor/admin)."""
        self._visible(self._current(who), conversation_id)
        return [dict(e) for e in self._timelines[conversation_id].entries]

    def colleagues(self, who: Account) -> list[dict[str, Any]]:
        """Everyone else with an enabled account, whether on shift and able to take one."""
        me = self._current(who)
        now = self._now()
        out = []
        for account in self._staff.values():
            if account.disabled or account.staff_id == me.staff_id:
                continue
            member = self._member(account.staff_id)
            on_shift = member is not None and member.on_shift(now)
            out.append(
                {
                    "staff_id": account.staff_id,
                    "name": account.name,
                    "role": account.role.value,
                    "on_shift": on_shift,
                    "eligible": self._refusal(account, now) is None,
                }
            )
        return sorted(out, key=lambda c: (not c["eligible"], c["name"].casefold()))

    def saved_replies(self, who: Account) -> list[dict[str, str]]:
        self._current(who)
        return [r.to_json() for r in self.replies.list()]

    def code_word_aliases(self, who: Account) -> list[str]:
        self._current(who)
        return sorted(r.alias for r in self.workflow.codewords.records())

    def library(self, who: Account) -> dict[str, Any]:
        """The saved replies and code-word names again (the snapshot's ``library`` number
        changes when an admin edits them: the shift screen then asks for this)."""
        return {
            "saved_replies": self.saved_replies(who),
            "code_word_aliases": self.code_word_aliases(who),
        }

    def _refusal(self, account: Account, now: datetime, *, me: bool = False) -> str | None:
        """Why ``account`` cannot be given a new conversation now, in plain words."""
        member = self._member(account.staff_id)
        buffer = self.workflow.settings.shift_end_buffer
        minutes = int(buffer.total_seconds() // 60)
        cap = self.workflow.settings.max_active_per_staff
        if member is None or not member.on_shift(now):
            return "You are not on shift." if me else f"{account.name} is not on shift."
        if not member.eligible_for_new(now, buffer):
            if me:
                return f"You are in the last {minutes} minutes of your shift: no new conversation."
            return f"{account.name} is in the last {minutes} minutes of their shift."
        if self.workflow.load(account.staff_id) >= cap:
            if me:
                return f"You already have {cap} conversations, the most at once."
            return f"{account.name} already has {cap} conversations, the most at once."
        return None

    def _reload_staff(self) -> None:
        """The accounts as stored; the workflow's staff follow them (shifts kept)."""
        self._staff = {a.staff_id: a for a in self.accounts.list()}
        self._shifts.prune(self._now())
        for account in self._staff.values():
            if account.disabled:
                continue
            self.workflow.set_staff(staffing.member(account, self._shifts.get(account.staff_id)))
