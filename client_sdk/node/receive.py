"""What the node receives: frames from the relay, opened, checked and turned into events.

Security properties:

- The relay is untrusted. Every envelope is authenticated by the conversation's
  ratchet before anything in it is used; a tampered, replayed or foreign envelope
  becomes a :class:`~client_sdk.events.VerificationFailed` event and is neither shown
  nor acked. Gaps in the sender's counters become
  :class:`~client_sdk.events.PossiblyMissingMessage`, late arrivals are flagged.
- The state is saved before a received message is acked, and events are shown only
  after that save: a restarted node continues the conversation and loses nothing.
- An init is accepted once: a one-time prekey's secret is deleted on use; an init to
  the signed prekey leaves a keyed replay tag in the keystore (``store.replay_tag``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from client_sdk import conversation as conv
from client_sdk import events as ev
from client_sdk import progress, publishing, store
from client_sdk import workflow as wf
from client_sdk.errors import (
    RelayError,
    SDKError,
    VerificationFailure,
    reason_for,
)
from client_sdk.node.actions import NodeActions
from client_sdk.node.state import OpenConversation
from e2ee import payload as pl
from e2ee.encoding import b64u_decode
from e2ee.errors import QuietlineError
from e2ee.session import accept_conversation

log = logging.getLogger("client_sdk.program")

MAX_RECENT_IDS = 64


class NodeReceiver(NodeActions):
    """Frames from the relay, opened and turned into events."""

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            await self._on_message(frame)
        elif kind == "prekeys_draining":  # replenish now, not at the next maintenance
            self._events.put(ev.PrekeysDraining())
            # ...then more often and to a bigger pool for a while (PrekeyPolicy)
            self._draining_until = time.monotonic() + self._policy.draining_for.total_seconds()
            if self._maintainer is None or self._maintainer.done():
                self._maintainer = asyncio.create_task(self._maintain_quietly())
        elif kind == "closed":
            cid = str(frame.get("conversation_id", ""))
            c = self._conversations.get(cid)
            if c is not None and not c.closing:  # else this node's own close path forgets it
                if not c.participant_left:
                    self._pending_events.append(ev.ParticipantLeft(cid, "closed"))
                await self._forget(
                    cid, by="peer" if c.participant_left else "relay", reason="closed", commit=False
                )

    def _fail(self, cid: str | None, reason: str, message_id: str) -> None:
        if message_id in self._failed_ids:
            return
        self._failed_ids.add(message_id)
        self._pending_events.append(ev.VerificationFailed(cid, reason))

    async def _on_message(self, frame: dict[str, Any]) -> None:
        message_id = str(frame.get("id", ""))
        cid = str(frame.get("conversation_id", ""))
        c = self._conversations.get(cid)
        if c is not None and message_id in c.recent_ids:
            self._pending_acks.append(message_id)  # already processed; the ack was lost
            return
        if message_id in self._failed_ids:
            return
        try:
            raw = b64u_decode(str(frame.get("envelope", "")))
            opened = conv.parse(raw, expect_cid=cid, recipient_slot=1)
        except (QuietlineError, VerificationFailure):
            self._fail(cid or None, "malformed", message_id)
            return
        if opened.is_init:
            if c is not None or cid in self._closed_ids:
                # an init for a conversation that is open, or that this process closed:
                # the relay replays it to resurrect the conversation
                self._fail(cid, "replay", message_id)
                return
            tag: bytes | None = None
            if opened.prekey_kind == 1:
                # the signed prekey outlives a restart: its inits are remembered by tag
                tag = store.replay_tag(self._ks, opened.enc, self._random)
                if store.init_seen(self._ks, opened.prekey_id, tag):
                    self._fail(cid, "replay", message_id)
                    return
                if store.replay_tag_count(self._ks, opened.prekey_id) >= self._max_replay_tags:
                    # cannot remember one more: refuse (the prekey is used up) and rotate
                    self._fail(cid, "expired", message_id)
                    self._new_since_maintain = max(1, self._policy.one_time_low_water)
                    return
            try:
                session, payload = accept_conversation(
                    raw,
                    functools.partial(publishing.prekey_secret, self._ks),
                    program_id=self._identity.program_id,
                    random=self._random,
                )
            except QuietlineError as exc:
                self._fail(cid, reason_for(exc), message_id)
                return
            if opened.prekey_kind == 2:
                self._ks.delete(f"{store.ONE_TIME_PREKEY}{opened.prekey_id}")
            elif tag is not None:
                store.remember_init(self._ks, opened.prekey_id, tag)
            now = self._clock()
            c = OpenConversation(cid=cid, session=session, opened_at=now, last_participant_at=now)
            c.tracker.observe(*opened.header)
            self._conversations[cid] = c
            self._pending_events.append(ev.NewConversation(cid))
            self._opened.append(cid)
        else:
            if c is None:
                self._fail(cid, "unknown_conversation", message_id)
                return
            try:
                c.session, payload = conv.open_message(c.session, raw, self._random)
            except QuietlineError as exc:
                self._fail(cid, reason_for(exc), message_id)
                return
            obs = c.tracker.observe(*opened.header)
            self._pending_events += ev.gap_events(cid, obs)
            c.last_participant_at = self._clock()
            self._wf(lambda: self.workflow.participant_message(cid))
            self._handle_payload(c, payload, late=obs.late)
        if opened.is_init:
            self._handle_payload(c, payload, late=False)
        c.recent_ids = [*c.recent_ids, message_id][-MAX_RECENT_IDS:]
        self._ks.put(store.session_name(cid), c.session.to_bytes())
        store.put_json(self._ks, store.meta_name(cid), c.meta())
        self._pending_acks.append(message_id)

    def _handle_payload(self, c: OpenConversation, payload: pl.Payload, *, late: bool) -> None:
        self._append_transcript(c.cid, "participant", payload)
        out = self._pending_events
        if isinstance(payload, pl.Text):
            out.append(ev.Message(c.cid, payload.body, payload.ts, late))
        elif isinstance(payload, pl.Duress):
            out.append(ev.Duress(c.cid, payload.ts))
            for action in self._wf(lambda: self.workflow.duress(c.cid)):
                out.append(ev.WorkflowEvent(action))
        elif isinstance(payload, pl.Answers):
            out.append(ev.Answers(c.cid, dict(payload.answers)))
        elif isinstance(payload, pl.CodeWordAnswer):
            try:
                check = self.workflow.check_code_word(c.cid, payload.alias, payload.word)
            except (wf.WorkflowError, ValueError):
                out.append(ev.CodeWordResult(c.cid, payload.alias, False, "unknown_alias"))
            else:
                out.append(
                    ev.CodeWordResult(
                        c.cid, check.alias, check.verified, check.outcome.value, check.rotation_due
                    )
                )
        elif isinstance(payload, pl.Close):
            c.participant_left = True
            self._wf(lambda: self.workflow.participant_left(c.cid))
            out.append(ev.ParticipantLeft(c.cid, payload.reason))

    async def _on_idle(self) -> None:
        """After a burst of frames: save once, then ack, then show the events.

        A save that fails (disk full) raises before anything is taken: the acks and the
        events wait for the next save that succeeds, so no decrypted message is lost.
        """
        if not (self._pending_acks or self._pending_events or self._ks.dirty):
            return
        if self._ks.dirty:
            await self._commit.commit()
        if self._generation_due or self._opened:  # a conversation opened or closed
            self._generation_due = False
            self._publish_generation_soon()
        acks, self._pending_acks = self._pending_acks, []
        events, self._pending_events = self._pending_events, []
        if acks and (self._socket is None or not await self._socket.ack(acks)):
            with contextlib.suppress(RelayError, VerificationFailure):  # re-sent, re-acked
                await self._http.ack(await self._session_token(), acks)
        for event in events:
            self._events.put(event)
        await progress.after_events(self, events)
        opened, self._opened = self._opened, []
        for cid in opened:
            if cid in self._conversations:
                await self._run(self._wf(functools.partial(self.workflow.conversation_opened, cid)))
        # Each new conversation may have used a one-time prekey: check the supply early.
        self._new_since_maintain += len(opened)
        if self._new_since_maintain >= max(1, self._policy.one_time_low_water // 2) and (
            self._maintainer is None or self._maintainer.done()
        ):
            self._new_since_maintain = 0
            self._maintainer = asyncio.create_task(self._maintain_quietly())

    async def _maintain_quietly(self) -> None:
        try:
            await self.maintain()
        except (SDKError, OSError) as exc:
            log.warning("prekey maintenance failed: %s", type(exc).__name__)

    async def _on_reconnect(self, attempts: int) -> None:
        self._events.put(ev.Reconnected(attempts))
        self._outbox.kick()
