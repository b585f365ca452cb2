"""The node's single consumer of ``ProgramClient.events()`` and the live updates it makes.

Each SDK event becomes timeline entries, alerts and snapshot updates, offered only to
the browsers whose account may see them (:mod:`console.hub`, bounded per browser).
Snapshots are coalesced: one per account per turn of the event loop, however many
changes. A code-word check gives only its outcome, never the word. The log names
event types, never content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from client_sdk import events as ev
from client_sdk import workflow as wf
from client_sdk.errors import SDKError
from client_sdk.keystore import KeystoreError
from console.accounts import Account
from console.errors import ConsoleError
from console.hub import Subscription
from console.timeline import DURESS_TEXT, LEFT_TEXT, Timeline, answers_text
from console.view import Alert, ConsoleView

log = logging.getLogger("console.node")

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


class ConsoleUpdates(ConsoleView):
    """The node's single consumer of ``ProgramClient.events()`` and the live updates it makes."""

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

    async def _consume(self) -> None:
        async for event in self.program.events():
            try:
                self._on_event(event)
            except (ConsoleError, SDKError, wf.WorkflowError, KeyError, ValueError) as exc:
                log.warning("an event could not be shown: %s", type(exc).__name__)

    def _count(self, event: ev.Event) -> None:
        """Statistics: the event's counters (never a reason to stop showing it)."""
        try:
            self.statistics.on_event(event, self._now())
        except Exception as exc:  # statistics never stop the console
            log.warning("an event could not be counted: %s", type(exc).__name__)
        self._save_counters_soon()

    def _save_counters_soon(self) -> None:
        """Counters are saved with the node's next write; this makes that write soon."""
        if self._closed or not self.program.keystore.dirty:
            return
        if self._stats_save is not None and not self._stats_save.done():
            return

        async def save() -> None:
            try:
                await self.program.save()
            except (KeystoreError, SDKError, OSError) as exc:  # the next save carries them
                log.warning("statistics could not be saved yet: %s", type(exc).__name__)

        self._stats_save = asyncio.get_running_loop().create_task(save())

    def _on_event(self, event: ev.Event) -> None:
        self._count(event)
        if isinstance(event, ev.NewConversation):
            self._timelines[event.conversation_id] = Timeline()
            self._label(event.conversation_id)
            self._holders[event.conversation_id] = None
            self._queued_at[event.conversation_id] = self._now_ms()
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
        self._queued_at.pop(cid, None)
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
            self._queued_at[action.conversation_id] = self._now_ms()
            text = "Nobody holds this conversation now; it is back in the queue."
            self._entry(action.conversation_id, "event", "program", text)
            self._changed()
        elif isinstance(action, wf.Queued):
            self._changed()
