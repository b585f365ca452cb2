"""What staff do through the node: send, notices, code words, close, and the workflow.

The workflow (:mod:`client_sdk.workflow`) decides; this layer carries out its actions
in order (:meth:`NodeActions._run`) and runs its timers. A conversation is closed with
its closing notice first, and its keys go whatever the relay answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from client_sdk import events as ev
from client_sdk import progress, store
from client_sdk import workflow as wf
from client_sdk.errors import (
    RelayError,
    RelayUnavailable,
    SDKError,
    VerificationFailure,
)
from client_sdk.node.bundle import NodeBundle
from client_sdk.outbox import Delivery
from e2ee import payload as pl

log = logging.getLogger("client_sdk.program")

TICK_SECONDS = 5.0
MAINTAIN_SECONDS = 300.0
PUBLISH_SECONDS = 60.0
"""At most this often the store generation is kept on the relay besides its triggers
(start, a conversation opened or closed): see client_sdk.node.bundle."""


class NodeActions(NodeBundle):
    """Staff actions and the workflow's actions, carried out."""

    async def send(self, conversation_id: str, text: str) -> Delivery:
        """Send a text message in ``conversation_id`` (staff wrote): ``"delivered"``, or
        ``"queued"`` when the relay is unavailable (sent when it is back: outbox.py)."""
        delivery = await self._send_payload(conversation_id, pl.Text(text, self._now_ms()))
        if (
            conversation_id in self.workflow.open_conversations()
            and self.workflow.conversation(conversation_id).assigned_to is not None
        ):
            await self._run(self.workflow.staff_message(conversation_id))
        return delivery

    async def send_notice(self, conversation_id: str, kind: str, body: str) -> Delivery:
        """Send a typed notice (``rights``, ``safety_check_in``, ``custom``, ...)."""
        return await self._send_payload(conversation_id, pl.Notice(kind, body, self._now_ms()))

    async def request_code_word(self, conversation_id: str, alias: str) -> None:
        """Ask the participant for the code word of ``alias`` (notice, then request)."""
        await self._run(self.workflow.request_code_word(conversation_id, alias))

    async def set_code_word(self, alias: str, word: str) -> None:
        """Store an Argon2id hash of ``word`` for ``alias`` (sealed in the keystore)."""
        record = self.workflow.codewords.set(alias, word, self.workflow.clock.now())
        self._ks.put(f"{store.CODE_WORD}{record.alias}", record.to_bytes())
        await self._commit.commit()

    async def close(self, conversation_id: str, reason: str = "closed") -> None:
        """Close: the closing notice, a close message, the relay deletes, we forget."""
        self._get(conversation_id)
        actions = self._wf(lambda: self.workflow.close(conversation_id))
        if not actions:  # not known to the workflow: still send the closing notice first
            actions = [
                wf.SendNotice(conversation_id, self.workflow.notices.closing_notice()),
                wf.CloseConversation(conversation_id, wf.CloseReason.STAFF),
            ]
        await self._run(actions, reason=reason)

    def set_staff(self, member: wf.StaffMember) -> None:
        self.workflow.set_staff(member)

    async def claim(self, conversation_id: str, staff_id: str) -> None:
        await self._run(self.workflow.claim(conversation_id, staff_id))

    async def take_next(self, staff_id: str) -> str | None:
        """``staff_id`` takes the first waiting conversation; its id, or None."""
        actions = self.workflow.take_next(staff_id)
        await self._run(actions)
        return next((a.conversation_id for a in actions if isinstance(a, wf.Assigned)), None)

    async def transfer(self, conversation_id: str, to_staff_id: str) -> None:
        await self._run(self.workflow.transfer(conversation_id, to_staff_id))

    async def escalate(self, conversation_id: str) -> None:
        await self._run(self.workflow.escalate(conversation_id))

    async def hand_off(self, staff_id: str) -> None:
        await self._run(self.workflow.hand_off(staff_id))

    async def set_status(self, state: str | None, message: str | None = None) -> None:
        """Force ``outage``, ``closed`` or ``busy`` (None clears); re-signed at once."""
        self._keeper().set_override(None if state is None else wf.StatusState(state), message)
        await self.tick()

    async def tick(self) -> None:
        """Run the workflow's timers now (inactivity, shifts, status re-signing)."""
        await self._run(self.workflow.tick())

    @property
    def draining(self) -> bool:
        """Whether the relay said lately that the one-time prekeys are being drained:
        maintenance then runs every ``draining_maintain_every`` and keeps
        ``draining_target`` prekeys on the relay (:class:`PrekeyPolicy`)."""
        return time.monotonic() < self._draining_until

    async def _tick_loop(self) -> None:
        last_maintain = last_published = time.monotonic()
        while not self._closed:
            await asyncio.sleep(TICK_SECONDS)
            if self._closed:
                return
            try:
                await self.tick()
                if self._generation_due or time.monotonic() - last_published >= PUBLISH_SECONDS:
                    last_published = time.monotonic()
                    self._generation_due = False
                    await self.publish_generation()
                every = (
                    self._policy.draining_maintain_every.total_seconds()
                    if self.draining
                    else MAINTAIN_SECONDS
                )
                if time.monotonic() - last_maintain >= every:
                    last_maintain = time.monotonic()
                    await self.maintain()
            except (SDKError, OSError, wf.WorkflowError) as exc:  # retried at the next tick
                log.warning("periodic work failed: %s", type(exc).__name__)

    async def _run(self, actions: list[wf.Action], *, reason: str | None = None) -> None:
        """Carry out the workflow's actions, in order."""
        for action in actions:
            cid = getattr(action, "conversation_id", None)
            if isinstance(action, wf.SendNotice):
                if cid in self._conversations and not self._conversations[cid].participant_left:
                    notice = action.notice.to_payload(self._now_ms())
                    await self._send_payload(cid, notice)
                    self._events.put(ev.NoticeSent(cid, notice.kind))
            elif isinstance(action, wf.RequestCodeWord):
                for payload in action.to_payloads(self._now_ms()):
                    await self._send_payload(action.conversation_id, payload)
            elif isinstance(action, wf.CloseConversation):
                if cid in self._conversations:
                    await self._close_now(action.conversation_id, reason or action.reason.value)
            elif isinstance(action, wf.PublishStatus):
                await self._publish_status(action.body)
            elif isinstance(action, wf.Assigned):
                c = self._conversations.get(action.conversation_id)
                if c is not None:
                    c.assigned_to = action.staff_id
                    store.put_json(self._ks, store.meta_name(c.cid), c.meta())
                self._events.put(ev.Assigned(action.conversation_id, action.staff_id))
            else:
                self._events.put(ev.WorkflowEvent(action))
        await progress.after_actions(self, actions)

    async def _close_now(self, conversation_id: str, reason: str) -> None:
        c = self._get(conversation_id)
        c.closing = True
        # the keys go whatever the relay does: a refusal, an outage or a bad sign-in
        relay_failed = (RelayError, VerificationFailure)
        if not c.participant_left:
            with contextlib.suppress(*relay_failed):
                await self._send_payload(conversation_id, pl.Close(reason, self._now_ms()))
        reachable = True  # else its queued sends (the close message) go when it is back
        try:
            await self._http.close_conversation(conversation_id, await self._session_token())
        except RelayUnavailable:
            reachable = False
        except relay_failed:
            pass
        await self._forget(conversation_id, by="self", reason=reason, drop_queued=reachable)
        self._generation_due = False
        self._publish_generation_soon()  # a close: keep the new generation on the relay
