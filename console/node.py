"""``ConsoleNode``: the one owner of the program node's state while the service runs.

It is the single consumer of ``ProgramClient.events()``. It keeps each open
conversation's timeline in memory (rebuilt from the SDK's sealed transcript after a
restart), the alerts, and the live subscriptions of the browsers
(:mod:`console.hub`), and it carries out staff actions through the ``ProgramClient``
and its workflow. Reads (:meth:`snapshot`, :meth:`timeline`, :meth:`colleagues`,
:meth:`saved_replies`, :meth:`code_word_aliases`) are synchronous; actions are async.

Security properties:

- Every method taking ``who`` checks what that account may see, against the
  account's current record (a disabled account can do nothing). A support worker sees
  the waiting conversations only as summaries (to take one), and reads and acts only on
  conversations assigned to them; supervisors and admins see all. An unknown id and an
  id the account may not see raise the same :class:`~console.errors.NotFound`, with the
  same words, so ids cannot be probed.
- Updates go only to subscriptions whose account may see them; a code-word check gives
  only the outcome, never the word.
- Nothing here logs content: the log says connected, reconnected, and the type of an
  error, never a message, a name typed by a participant or a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from client_sdk import ProgramClient, store
from client_sdk import events as ev
from client_sdk import workflow as wf
from client_sdk.errors import ConversationClosed, RelayError, SDKError
from client_sdk.keystore import Keystore
from client_sdk.lock import KeystoreLock
from client_sdk.transport import Backoff
from console import staffing
from console.accounts import Account, Role, StaffAccounts
from console.errors import Conflict, ConsoleError, Forbidden, NotAllowed, NotFound, SetupError
from console.hub import Hub, Subscription
from console.replies import SavedReplies
from console.settings import ConsoleSettings
from console.timeline import DURESS_TEXT, LEFT_TEXT, Timeline, answers_text, label_for

__all__ = ["ConsoleNode"]

log = logging.getLogger("console.node")

MAX_MESSAGE = 4000
OUTCOMES = {
    "verified": "matches",
    "wrong": "does_not_match",
    "locked": "locked",
    "unknown_alias": "unknown_alias",
}
OUTCOME_TEXT = {
    "matches": "matches",
    "does_not_match": "does not match",
    "locked": "is locked after too many tries",
    "unknown_alias": "was asked for a code word that is not set",
}


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@dataclass
class Alert:
    id: str
    kind: str
    conversation_id: str | None
    text: str
    at_ms: int
    notify: frozenset[str]
    label: str | None = None  # kept: a duress alert outlives its conversation


class ConsoleNode:
    """The service's state and every staff action. Build it with :meth:`open` or :meth:`start`."""

    def __init__(
        self,
        program: ProgramClient,
        settings: ConsoleSettings,
        *,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.program = program
        self.settings = settings
        self.workflow = program.workflow
        self.accounts = StaffAccounts(program.keystore, hasher=hasher)
        self.replies = SavedReplies(program.keystore)
        self._shifts = staffing.Shifts(program.keystore)
        self._hub = Hub(settings.subscriber_queue)
        self._staff: dict[str, Account] = {}
        self._timelines: dict[str, Timeline] = {}
        self._labels: dict[str, str] = {}
        self._holders: dict[str, str | None] = {}
        self._shown_waiting: dict[str, set[str]] = {}
        self._alerts: dict[str, Alert] = {}
        self._alert_numbers = 0
        self._consumer: asyncio.Task[None] | None = None
        self._snapshot_due = False
        self._closed = False

    # -- lifetime ----------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        keystore: str | Path,
        passphrase: str,
        settings: ConsoleSettings,
        *,
        relay_url: str | None = None,
        clock: wf.Clock | None = None,
        backoff: Backoff | None = None,
        auto_tick: bool = True,
        hasher: PasswordHasher | None = None,
    ) -> ConsoleNode:
        """Lock the keystore, read the relay's URL and the staff from it, connect, start.

        Raises :class:`~client_sdk.lock.KeystoreInUse` at once when another node runs.
        """
        lock = KeystoreLock.acquire(keystore)
        try:
            ks = await asyncio.to_thread(Keystore.open, keystore, passphrase)
            try:
                program_record = store.get_json(ks, store.PROGRAM) or {}
                url = relay_url or program_record.get("relay_url")
                if not url:
                    raise SetupError("This keystore names no relay: run `program init` first.")
                clock = clock or wf.SystemClock()
                workflow = staffing.build_workflow(ks, clock)
            finally:
                ks.close()
        except BaseException:
            lock.release()
            raise
        program = await ProgramClient.connect(
            str(url),
            keystore,
            passphrase,
            clock=clock,
            workflow=workflow,
            backoff=backoff,
            auto_tick=auto_tick,
            lock=lock,
        )
        try:
            return await cls.start(program, settings, hasher=hasher)
        except BaseException:
            await program.aclose()
            raise

    @classmethod
    async def start(
        cls,
        program: ProgramClient,
        settings: ConsoleSettings,
        *,
        hasher: PasswordHasher | None = None,
    ) -> ConsoleNode:
        """Take over a connected ``ProgramClient``: staff, hours, timelines, the status."""
        node = cls(program, settings, hasher=hasher)
        if node.workflow.status is None:
            node.workflow.status = wf.StatusKeeper()
        staffing.configure_status(node.workflow.status, program.keystore)
        node._reload_staff()
        for cid in program.conversations:
            node._timelines[cid] = Timeline.from_transcript(program.transcript(cid))
            node._label(cid)
            with contextlib.suppress(wf.UnknownConversation):
                node._holders[cid] = node.workflow.conversation(cid).assigned_to
        node._consumer = asyncio.create_task(node._consume())
        await program.tick()  # the status as the rule says now
        return node

    async def aclose(self) -> None:
        """Stop: every browser's stream ends, then the program node disconnects."""
        if self._closed:
            return
        self._closed = True
        self._hub.close()
        await self.program.aclose()  # ends the event stream: the consumer returns
        if self._consumer is not None:
            await asyncio.wait([self._consumer], timeout=5)
            self._consumer.cancel()

    async def __aenter__(self) -> ConsoleNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def program_name(self) -> str:
        """The program's name, from its profile (shown in the console's header)."""
        content = store.get_json(self.program.keystore, store.PROFILE_CONTENT) or {}
        return str(content.get("name") or "Support line")

    # -- accounts ----------------------------------------------------------------------

    def _reload_staff(self) -> None:
        """The accounts as stored; the workflow's staff follow them (shifts kept)."""
        self._staff = {a.staff_id: a for a in self.accounts.list()}
        self._shifts.prune(self._now())
        for account in self._staff.values():
            if account.disabled:
                continue
            self.workflow.set_staff(staffing.member(account, self._shifts.get(account.staff_id)))

    def account(self, staff_id: str) -> Account | None:
        """The current, enabled account of ``staff_id`` (None when unknown or disabled)."""
        account = self._staff.get(staff_id)
        return None if account is None or account.disabled else account

    async def sign_in(self, name: str, password: str) -> Account | None:
        """The account if the password is right and it is enabled (Argon2id, off the loop)."""
        account = await asyncio.to_thread(self.accounts.verify, name, password)
        if self.program.keystore.dirty:  # an old hash was upgraded
            await self.program.save()
        return account

    def _current(self, who: Account) -> Account:
        account = self.account(who.staff_id)
        if account is None:
            raise Forbidden("Your account is disabled. Ask an admin.")
        return account

    async def disable_account(self, who: Account, staff_id: str) -> None:
        """An admin disables an account: it is signed out everywhere, its work handed off."""
        me = self._current(who)
        if me.role is not Role.ADMIN:
            raise Forbidden("Only an admin can disable an account.")
        if staff_id == me.staff_id:
            raise NotAllowed("You cannot disable your own account.")
        target = self.account(staff_id)
        if target is None:
            raise NotFound("There is no such staff account.")
        await self.go_off_shift(target)
        self.accounts.disable(staff_id)
        await self.program.save()
        self._reload_staff()
        with contextlib.suppress(wf.WorkflowError):
            self.workflow.remove_staff(staff_id)
        self._hub.end_account(staff_id, {"type": "signed_out"})
        self._changed()

    # -- reads -------------------------------------------------------------------------

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
            "waiting_since_ms": _ms(view.opened_at) if holder is None else None,
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

    # -- live updates ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, who: Account) -> AsyncIterator[Subscription]:
        """A bounded stream of the updates ``who`` may see, starting with a snapshot."""
        account = self._current(who)
        sub = self._hub.add(account)
        sub.offer({"type": "snapshot", **self.snapshot(account)})
        try:
            yield sub
        finally:
            self._hub.remove(sub)

    def _changed(self) -> None:
        """The queue, an assignment, a shift or an alert changed: snapshots, once per turn."""
        if self._snapshot_due or self._closed:
            return
        self._snapshot_due = True
        asyncio.get_running_loop().call_soon(self._send_snapshots)

    def _send_snapshots(self) -> None:
        self._snapshot_due = False
        for sub in self._hub.subscriptions():
            account = self.account(sub.account.staff_id)
            if account is None:
                self._hub.end_account(sub.account.staff_id, {"type": "signed_out"})
            elif not sub.ended:
                sub.offer({"type": "snapshot", **self.snapshot(account)})

    def _entry(
        self, cid: str, kind: str, sender: str, text: str, **extra: Any
    ) -> dict[str, Any] | None:
        timeline = self._timelines.get(cid)
        if timeline is None:
            return None
        entry = timeline.add(kind, sender, text, self._now_ms(), **extra)
        update = {"type": "entry", "conversation_id": cid, "entry": entry}
        self._hub.send(update, lambda account: self._readable(account, cid))
        return entry

    def _alert(self, kind: str, cid: str | None, text: str, notify: tuple[str, ...]) -> None:
        if not notify:  # nobody on shift: every supervisor and admin, wherever they are
            notify = tuple(a.staff_id for a in self._staff.values() if a.role.supervises)
        self._alert_numbers += 1
        alert_id = f"a{self._alert_numbers}"
        label = self._labels.get(cid) if cid is not None else None
        self._alerts[alert_id] = Alert(
            alert_id, kind, cid, text, self._now_ms(), frozenset(notify), label
        )
        self._changed()

    # -- the event stream (single consumer) ----------------------------------------------

    async def _consume(self) -> None:
        async for event in self.program.events():
            try:
                self._on_event(event)
            except (ConsoleError, SDKError, wf.WorkflowError, KeyError, ValueError) as exc:
                log.warning("an event could not be shown: %s", type(exc).__name__)

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.NewConversation):
            self._timelines[event.conversation_id] = Timeline()
            self._label(event.conversation_id)
            self._holders[event.conversation_id] = None
            self._changed()
        elif isinstance(event, ev.Message):
            marker = "late" if event.late else None
            self._entry(event.conversation_id, "message", "participant", event.text, marker=marker)
        elif isinstance(event, ev.NoticeSent):
            cid = event.conversation_id
            if cid in self._timelines:
                transcript = self.program.transcript(cid)
                body = self._timelines[cid].last_notice_text(transcript, event.kind) or ""
                self._entry(cid, "notice", "program", body, notice_kind=event.kind)
        elif isinstance(event, ev.Answers):
            text = answers_text(event.answers)
            self._entry(event.conversation_id, "notice", "participant", text, notice_kind="answers")
        elif isinstance(event, ev.Duress):
            self._entry(event.conversation_id, "event", "participant", DURESS_TEXT)
        elif isinstance(event, ev.CodeWordResult):
            self._code_word_result(event)
        elif isinstance(event, ev.Assigned):
            self._holders[event.conversation_id] = event.staff
            account = self._staff.get(event.staff)
            name = account.name if account is not None else "Someone"
            self._entry(event.conversation_id, "event", "program", f"{name} is answering now.")
            self._changed()
        elif isinstance(event, ev.ParticipantLeft):
            self._entry(event.conversation_id, "event", "participant", LEFT_TEXT)
            self._changed()
        elif isinstance(event, ev.ConversationClosedEvent):
            self._closed_conversation(event)
        elif isinstance(event, ev.PossiblyMissingMessage):
            self._entry(
                event.conversation_id, "marker", "program",
                f"{event.count} message(s) from the participant may be missing.",
                marker="possibly_missing",
            )  # fmt: skip
        elif isinstance(event, ev.VerificationFailed):
            if event.conversation_id is not None and event.reason == "out_of_order":
                return  # the message itself is shown, marked late
            if event.conversation_id is not None:
                self._entry(
                    event.conversation_id, "marker", "program",
                    "A message could not be verified. It is not shown.",
                    marker="verification_failed",
                )  # fmt: skip
        elif isinstance(event, ev.WorkflowEvent):
            self._workflow_event(event.action)
        elif isinstance(event, ev.Reconnected):
            log.info("reconnected to the relay (after %d attempts)", event.attempts)

    def _code_word_result(self, event: ev.CodeWordResult) -> None:
        cid = event.conversation_id
        outcome = OUTCOMES.get(event.outcome, "does_not_match")
        update = {
            "type": "code_word",
            "conversation_id": cid,
            "alias": event.alias,
            "outcome": outcome,
        }
        self._hub.send(update, lambda account: self._readable(account, cid))
        text = f"Code word check ({event.alias}): the answer {OUTCOME_TEXT[outcome]}."
        self._entry(cid, "event", "program", text)

    def _closed_conversation(self, event: ev.ConversationClosedEvent) -> None:
        cid = event.conversation_id
        if cid not in self._timelines:
            return
        update = {"type": "closed", "conversation_id": cid, "reason": event.reason}
        self._hub.send(update, lambda account: self._readable(account, cid))
        del self._timelines[cid]
        self._labels.pop(cid, None)
        self._holders.pop(cid, None)
        for shown in self._shown_waiting.values():
            shown.discard(cid)
        # A duress or urgent alert stays until someone acknowledges it, even when the
        # conversation is gone (the widget leaves at once after "someone is here").
        for alert_id in [
            a.id
            for a in self._alerts.values()
            if a.conversation_id == cid and a.kind not in {"duress", "urgent"}
        ]:
            del self._alerts[alert_id]
        self._changed()

    def _workflow_event(self, action: Any) -> None:
        if isinstance(action, wf.UrgentAlert):
            label = self._labels.get(action.conversation_id, "A conversation")
            text = (
                f"{label}: the participant pressed the duress button. Someone may be with "
                "them: follow the duress guidance; do not ask questions they cannot "
                "answer safely."
            )
            self._alert("duress", action.conversation_id, text, action.notify)
        elif isinstance(action, wf.HandoffNeeded):
            label = self._labels.get(action.conversation_id, "A conversation")
            text = f"{label} is back in the queue: nobody on shift could take it over."
            self._alert("handoff_needed", action.conversation_id, text, action.notify)
        elif isinstance(action, wf.ShiftEndingSoon):
            count = len(action.conversation_ids)
            text = (
                "Your shift ends soon. You will get no new conversation; "
                f"finish or hand off your {count} open conversation(s)."
            )
            self._alert("shift_ending", None, text, (action.staff_id,))
        elif isinstance(action, wf.ReturnedToQueue):
            self._holders[action.conversation_id] = None
            text = "Nobody holds this conversation now; it is back in the queue."
            self._entry(action.conversation_id, "event", "program", text)
            self._changed()
        elif isinstance(action, wf.Queued):
            self._changed()

    # -- actions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _refusals(self) -> Iterator[None]:
        """The workflow's and the SDK's refusals, in the console's words."""
        try:
            yield
        except (wf.UnknownConversation, ConversationClosed):
            raise NotFound() from None
        except wf.UnknownStaff:
            raise NotFound("There is no such colleague.") from None
        except wf.InvalidState:
            raise Conflict() from None
        except wf.NoOneAvailable:
            raise NotAllowed("No supervisor is on shift.") from None
        except wf.NotEligible:
            raise NotAllowed("They cannot take a new conversation now.") from None
        except RelayError:
            raise NotAllowed("The relay did not answer. Try again in a moment.") from None

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

    def _holder_or_supervisor(self, who: Account, cid: str) -> tuple[Account, wf.ConversationView]:
        me = self._current(who)
        view = self._visible(me, cid)
        return me, view

    async def go_on_shift(self, who: Account, until_ms: int | None = None) -> None:
        """Start (or extend) ``who``'s shift until ``until_ms`` (default: the setting)."""
        me = self._current(who)
        now = self._now()
        if until_ms is None:
            end = now + timedelta(minutes=self.settings.default_shift_minutes)
        else:
            end = datetime.fromtimestamp(until_ms / 1000, now.tzinfo)
        if end <= now + timedelta(minutes=1):
            raise NotAllowed("A shift must end in the future.")
        if end > now + timedelta(minutes=self.settings.max_shift_minutes):
            hours = self.settings.max_shift_minutes // 60
            raise NotAllowed(f"A shift is at most {hours} hours.")
        member = self._member(me.staff_id)
        start = now
        if member is not None and member.on_shift(now):
            current = self._shifts.get(me.staff_id)
            start = current.start if current is not None else now
        shift = wf.Shift(start, end)
        self._shifts.set(me.staff_id, shift)
        self.workflow.set_staff(staffing.member(me, shift))
        await self.program.save()
        await self.program.tick()  # the status follows at once
        self._changed()

    async def go_off_shift(self, who: Account) -> None:
        """End ``who``'s shift now; their conversations are handed to colleagues."""
        me = self._staff.get(who.staff_id) or who
        self._shifts.set(me.staff_id, None)
        self.workflow.set_staff(staffing.member(me, None))
        await self.program.save()
        with self._refusals():
            await self.program.hand_off(me.staff_id)
            await self.program.tick()
        for alert_id in [
            a.id
            for a in self._alerts.values()
            if a.kind == "shift_ending" and me.staff_id in a.notify
        ]:
            del self._alerts[alert_id]
        self._changed()

    async def claim(self, who: Account, conversation_id: str) -> None:
        """Take a waiting conversation; a supervisor or admin may also take one over."""
        me = self._current(who)
        view = self._view(conversation_id)
        if view is None:
            raise NotFound()
        if view.assigned_to == me.staff_id:
            return
        if view.assigned_to is not None:
            if me.role.supervises:
                await self.transfer(me, conversation_id, me.staff_id)
                return
            if conversation_id in self._shown_waiting.get(me.staff_id, set()):
                raise Conflict("Someone else took this conversation first.")
            raise NotFound()
        refusal = self._refusal(me, self._now(), me=True)
        if refusal is not None:
            raise NotAllowed(refusal)
        with self._refusals():
            await self.program.claim(conversation_id, me.staff_id)
        self._holders[conversation_id] = me.staff_id

    async def take_next(self, who: Account) -> str | None:
        """Take the first waiting conversation: its id, or None when nobody waits."""
        me = self._current(who)
        if not self._waiting():
            return None
        refusal = self._refusal(me, self._now(), me=True)
        if refusal is not None:
            raise NotAllowed(refusal)
        with self._refusals():
            return await self.program.take_next(me.staff_id)

    async def send(self, who: Account, conversation_id: str, text: str) -> dict[str, Any]:
        """Send ``text`` as ``who`` (who must hold the conversation); its timeline entry."""
        me = self._current(who)
        view = self._visible(me, conversation_id)
        if view.assigned_to != me.staff_id:
            raise NotAllowed("Take this conversation over before you write in it.")
        body = text.strip()
        if not body or len(body) > MAX_MESSAGE:
            raise NotAllowed(f"A message is 1 to {MAX_MESSAGE} characters.")
        with self._refusals():
            await self.program.send(conversation_id, text)
        entry = self._entry(conversation_id, "message", "staff", text, staff_name=me.name)
        assert entry is not None
        return entry

    async def ask_code_word(self, who: Account, conversation_id: str, alias: str) -> None:
        """Ask the participant for the code word of ``alias``; the answer comes as an update."""
        me = self._current(who)
        view = self._visible(me, conversation_id)
        if view.assigned_to != me.staff_id:
            raise NotAllowed("Take this conversation over before you ask for the code word.")
        if alias not in self.code_word_aliases(me):
            raise NotAllowed("There is no code word by that name.")
        with self._refusals():
            await self.program.request_code_word(conversation_id, alias)
        transcript = self.program.transcript(conversation_id)
        notice = self._timelines[conversation_id].last_notice_text(transcript, "code_word_request")
        if notice:
            self._entry(
                conversation_id, "notice", "program", notice, notice_kind="code_word_request"
            )
        self._entry(
            conversation_id, "event", "staff", f"{me.name} asked for the code word ({alias})."
        )

    async def transfer(self, who: Account, conversation_id: str, to_staff_id: str) -> None:
        """Hand the conversation to a colleague on shift (the participant is told)."""
        me, view = self._holder_or_supervisor(who, conversation_id)
        target = self.account(to_staff_id)
        if target is None:
            raise NotFound("There is no such colleague.")
        if view.assigned_to is None:
            raise NotAllowed("This conversation is waiting: take it from the queue instead.")
        if view.assigned_to == to_staff_id:
            raise Conflict(f"{target.name} already has this conversation.")
        if not target.role.supervises:
            refusal = self._refusal(target, self._now(), me=target.staff_id == me.staff_id)
            if refusal is not None:
                raise NotAllowed(refusal)
        else:
            member = self._member(target.staff_id)
            if member is None or not member.on_shift(self._now()):
                raise NotAllowed(f"{target.name} is not on shift.")
        with self._refusals():
            await self.program.transfer(conversation_id, to_staff_id)

    async def escalate(self, who: Account, conversation_id: str) -> None:
        """Hand the conversation to the supervisor on shift with the fewest."""
        self._holder_or_supervisor(who, conversation_id)
        with self._refusals():
            await self.program.escalate(conversation_id)

    async def end(self, who: Account, conversation_id: str) -> None:
        """End the conversation: the closing notice first, then the close."""
        self._holder_or_supervisor(who, conversation_id)
        with self._refusals():
            await self.program.close(conversation_id, reason="closed")

    async def block(self, who: Account, conversation_id: str) -> None:
        """Supervisors and admins: end an abusive conversation and refuse anything more
        from it. Participants are anonymous, so this cannot stop the same person from
        opening a new conversation (see docs/console.md)."""
        me = self._current(who)
        if not me.role.supervises:
            raise Forbidden()
        self._visible(me, conversation_id)
        with self._refusals():
            await self.program.close(conversation_id, reason="closed")
        log.info("a supervisor blocked a conversation")

    async def ack_alert(self, who: Account, alert_id: str) -> None:
        """Acknowledge an alert: it goes for everyone it was shown to."""
        me = self._current(who)
        alert = self._alerts.get(alert_id)
        if alert is None or me.staff_id not in alert.notify:
            raise NotFound("There is no such alert.")
        del self._alerts[alert_id]
        self._changed()
