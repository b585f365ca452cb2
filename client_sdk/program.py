"""``ProgramClient``: the program node, one per program, holding its keys.

Security properties and assumptions:

- The relay is untrusted. Every envelope is authenticated by the conversation's
  ratchet before anything in it is used; a tampered, replayed or foreign envelope
  becomes a :class:`~client_sdk.events.VerificationFailed` event and is neither shown
  nor acked. Gaps in the sender's counters become
  :class:`~client_sdk.events.PossiblyMissingMessage`, late arrivals are flagged.
- At rest: ratchet state, the transcript of every open conversation and all prekey
  secrets live in the keystore (sealed under the passphrase). The state is saved before
  an envelope leaves and before a received message is acked, so a node restarted
  mid-conversation continues it, and a crash never reuses a message key.
- An init is accepted once. An init to a one-time prekey cannot be opened again (the
  secret is deleted); for an init to the signed prekey the node keeps a keyed replay
  tag in the keystore until that prekey's secret is deleted (``store.replay_tag``), so
  a relay replaying it, even after a restart of the node, gets ``VerificationFailed``
  (``replay``) and never a new conversation.
- At close, the conversation's session, metadata and transcript are deleted from the
  keystore (the transcript is kept only if the program turned retention on, see
  ``docs/sdk.md``). The relay deletes every row of it at the same time.
- The node proves itself to the relay by signing a fresh challenge bound to the relay's
  origin (label ``relay-auth``), so a signature made for one relay is useless at another.
- On connect, the node fetches its own public record from the relay and checks that the
  relay serves the identity key, profile and status it signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from client_sdk import conversation as conv
from client_sdk import events as ev
from client_sdk import progress, publishing, store
from client_sdk import workflow as wf
from client_sdk.counters import CounterTracker, FailedIds
from client_sdk.errors import (
    ConversationClosed,
    RelayError,
    RelayUnavailable,
    SDKError,
    UsageError,
    VerificationFailure,
    reason_for,
)
from client_sdk.keystore import Keystore
from client_sdk.transport import Backoff, RelayHTTP, RelaySocket, relay_origin
from client_sdk.workflow.checkin import use_profile_check_in
from client_sdk.workflow.prekeys import (
    PrekeyPolicy,
    expired_one_time_prekeys,
    one_time_prekeys_to_generate,
    plan_signed_prekeys,
)
from e2ee import payload as pl
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import SignedObject, fingerprint, sign_profile, sign_status
from e2ee.primitives import RandomSource, constant_time_equal, system_random
from e2ee.session import ProgramSession, accept_conversation

log = logging.getLogger("client_sdk.program")

MAX_RECENT_IDS = 64
TICK_SECONDS = 5.0
MAINTAIN_SECONDS = 300.0


@dataclass
class _Conversation:
    """In-memory view of one open conversation (mirrored to the keystore)."""

    cid: str
    session: ProgramSession
    tracker: CounterTracker = field(default_factory=CounterTracker)
    recent_ids: list[str] = field(default_factory=list)
    opened_at: float = 0.0
    last_participant_at: float = 0.0
    assigned_to: str | None = None
    participant_left: bool = False
    workflow: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.to_json(),
            "recent_ids": self.recent_ids,
            "opened_at": self.opened_at,
            "last_participant_at": self.last_participant_at,
            "assigned_to": self.assigned_to,
            "participant_left": self.participant_left,
            "workflow": self.workflow,
        }

    @classmethod
    def restore(cls, cid: str, session: ProgramSession, meta: dict[str, Any]) -> _Conversation:
        return cls(
            cid=cid,
            session=session,
            tracker=CounterTracker.from_json(meta.get("tracker", {})),
            recent_ids=[str(i) for i in meta.get("recent_ids", [])],
            opened_at=float(meta.get("opened_at", 0.0)),
            last_participant_at=float(meta.get("last_participant_at", 0.0)),
            assigned_to=meta.get("assigned_to"),
            participant_left=bool(meta.get("participant_left", False)),
            workflow=dict(meta.get("workflow", {})),
        )


class ProgramClient:
    """The program node. Build it with :meth:`connect`; use it as an async context manager."""

    def __init__(
        self,
        relay_url: str,
        ks: Keystore,
        *,
        origin: str,
        clock: wf.Clock,
        random: RandomSource,
        retain_transcripts: bool,
        workflow: wf.Workflow,
        prekey_policy: PrekeyPolicy,
        backoff: Backoff,
        auto_tick: bool,
        max_replay_tags: int = store.MAX_REPLAY_TAGS_PER_PREKEY,
    ) -> None:
        if max_replay_tags < 1:
            raise UsageError("max_replay_tags must be at least 1")
        self._max_replay_tags = max_replay_tags
        self._relay_url = relay_url
        self._ks = ks
        self._identity = publishing.load_identity(ks)
        self.program_id = b64u_encode(self._identity.program_id)
        self.identity_key = b64u_encode(self._identity.public_key)
        self.fingerprint = fingerprint(self._identity.public_key)
        self._origin = origin
        self._random = random
        self.retain_transcripts = retain_transcripts
        self.workflow = workflow
        self._policy = prekey_policy
        self._backoff = backoff
        self._auto_tick = auto_tick
        self._ticker: asyncio.Task[None] | None = None
        self._http = RelayHTTP(relay_url)
        self._http.refresh_token = functools.partial(self._session_token, refresh=True)
        self._socket: RelaySocket | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self._commit = store.GroupCommit(self._save)
        self._conversations: dict[str, _Conversation] = {}
        self._events = ev.EventStream()
        self._pending_events: list[ev.Event] = []
        self._pending_acks: list[str] = []
        self._failed_ids = FailedIds()
        self._opened: list[str] = []
        self._closed_ids: set[str] = set()
        self._new_since_maintain = 0
        self._maintainer: asyncio.Task[None] | None = None
        self._maintaining = asyncio.Lock()
        self._closed = False

    # -- lifetime ------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        relay_url: str,
        keystore_path: str | Path,
        passphrase: str,
        *,
        origin: str | None = None,
        clock: wf.Clock | None = None,
        random: RandomSource = system_random,
        retain_transcripts: bool = False,
        workflow: wf.Workflow | None = None,
        prekey_policy: PrekeyPolicy | None = None,
        backoff: Backoff | None = None,
        auto_tick: bool = True,
        max_replay_tags: int = store.MAX_REPLAY_TAGS_PER_PREKEY,
    ) -> ProgramClient:
        """Open the keystore, authenticate, check and top up the bundle, open the socket.

        ``origin`` is the relay's public origin when it differs from the URL this node
        reaches it by (e.g. behind a reverse proxy). ``workflow`` carries the support
        line's rules (staff, queue, timers, notices, status); by default one with no staff,
        the program's canned notices and an always-open status. ``clock`` is the
        workflow's clock (a ``ManualClock`` in tests); with ``auto_tick`` the node runs
        :meth:`tick` every few seconds and :meth:`maintain` every few minutes.
        ``max_replay_tags`` bounds the inits accepted under one signed prekey (see
        :mod:`client_sdk.store`); when reached, the prekey is rotated at once.
        """
        ks = await asyncio.to_thread(Keystore.open, keystore_path, passphrase)
        clock = clock or (workflow.clock if workflow is not None else wf.SystemClock())
        self = cls(
            relay_url,
            ks,
            origin=origin or relay_origin(relay_url),
            clock=clock,
            random=random,
            retain_transcripts=retain_transcripts,
            workflow=workflow or wf.Workflow(clock=clock, status=wf.StatusKeeper()),
            prekey_policy=prekey_policy or PrekeyPolicy(),
            backoff=backoff or Backoff(),
            auto_tick=auto_tick,
            max_replay_tags=max_replay_tags,
        )
        try:
            self._load_code_words()
            self._restore_conversations()
            await self._session_token()
            await self.check_published()
            await self.maintain()
            self._socket = RelaySocket(
                relay_url,
                self._ws_token,
                self._on_frame,
                backoff=self._backoff,
                on_reconnect=self._on_reconnect,
                on_idle=self._on_idle,
                batch=True,
            )
            await self._socket.start()
            if auto_tick:
                self._ticker = asyncio.create_task(self._tick_loop())
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aenter__(self) -> ProgramClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Disconnect and close the keystore (open conversations stay resumable)."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._ticker, self._maintainer) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            # bounded: on Python 3.11 wait_for can swallow a cancellation (gh-86296)
            await asyncio.wait(tasks, timeout=5)
        if self._socket is not None:
            await self._socket.close()
        await self._http.aclose()
        self._stash_workflow()
        if self._ks.dirty:
            self._ks.save()
        self._ks.close()
        self._events.end()

    # -- public API ------------------------------------------------------------------

    @property
    def conversations(self) -> list[str]:
        """Ids of the open conversations."""
        return sorted(self._conversations)

    def events(self) -> AsyncIterator[ev.Event]:
        """Typed events, in order, until the client is closed."""
        return aiter(self._events)

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """The open conversation's messages (from the keystore; gone after close)."""
        self._get(conversation_id)
        return list(store.get_json(self._ks, store.transcript_name(conversation_id)) or [])

    async def send(self, conversation_id: str, text: str) -> None:
        """Send a text message in ``conversation_id`` (staff wrote)."""
        await self._send_payload(conversation_id, pl.Text(text, self._now_ms()))
        if (
            conversation_id in self.workflow.open_conversations()
            and self.workflow.conversation(conversation_id).assigned_to is not None
        ):
            await self._run(self.workflow.staff_message(conversation_id))

    async def send_notice(self, conversation_id: str, kind: str, body: str) -> None:
        """Send a typed notice (``rights``, ``safety_check_in``, ``custom``, ...)."""
        await self._send_payload(conversation_id, pl.Notice(kind, body, self._now_ms()))

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

    # -- staff (the workflow decides; the node carries it out) -------------------------

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

    async def _tick_loop(self) -> None:
        last_maintain = time.monotonic()
        while not self._closed:
            await asyncio.sleep(TICK_SECONDS)
            if self._closed:
                return
            try:
                await self.tick()
                if time.monotonic() - last_maintain >= MAINTAIN_SECONDS:
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
        # the keys go whatever the relay does: a refusal, an outage or a bad sign-in
        relay_failed = (RelayError, VerificationFailure)
        if not c.participant_left:
            with contextlib.suppress(*relay_failed):
                await self._send_payload(conversation_id, pl.Close(reason, self._now_ms()))
        with contextlib.suppress(*relay_failed):
            await self._http.close_conversation(conversation_id, await self._session_token())
        await self._forget(conversation_id, by="self", reason=reason)

    # -- the bundle --------------------------------------------------------------------

    async def maintain(self) -> None:
        """Rotate the signed prekey, replenish one-time prekeys, re-sign the status.

        The decisions are the workflow's (:mod:`client_sdk.workflow.prekeys`); secrets
        are saved in the keystore before their public halves are published. Runs are
        serialized (the timer, the check after new conversations and a caller's call
        never interleave), so when this returns every decision so far is published.
        """
        async with self._maintaining:
            await self._maintain()

    async def _maintain(self) -> None:
        moment = self.workflow.clock.now()
        token = await self._session_token()
        ks, ident, policy = self._ks, self._identity, self._policy
        plan = plan_signed_prekeys(publishing.prekey_records(ks, one_time=False), moment, policy)
        # a signed prekey whose replay-tag set is full takes no more inits: rotate now
        full = (
            plan.publish is not None
            and store.replay_tag_count(ks, plan.publish) >= self._max_replay_tags
        )
        if plan.generate or full:
            [signed] = publishing.new_prekeys(
                ks, ident, 1, moment, self._random, policy, one_time=False
            )
            await self._commit.commit()
            await self._http.put_signed_prekey(self.program_id, token, signed.to_json())
        publishing.delete_prekeys(ks, plan.delete, one_time=False)
        store.forget_replay_tags(ks)  # the tags go with their prekey's secret
        one_time = publishing.prekey_records(ks, one_time=True)
        publishing.delete_prekeys(
            ks, expired_one_time_prekeys(one_time, moment, policy), one_time=True
        )
        count = await self._http.one_time_prekey_count(self.program_id, token)
        wanted = one_time_prekeys_to_generate(count, policy)
        if wanted:
            batch = publishing.new_prekeys(
                ks, ident, wanted, moment, self._random, policy, one_time=True
            )
            await self._commit.commit()
            await self._http.post_one_time_prekeys(
                self.program_id, token, [p.to_json() for p in batch]
            )
        if store.get_json(ks, store.PUBLISHED_PROFILE) is None:
            await self.publish_profile(store.get_json(ks, store.PROFILE_CONTENT) or {})
        use_profile_check_in(self.workflow, store.get_json(ks, store.PROFILE_CONTENT))
        keeper = self._keeper()
        if keeper.current is None:
            published = store.get_json(ks, store.PUBLISHED_STATUS)
            if published is not None:
                keeper.published(conv.status_body(published))
        body = keeper.due(moment, at_capacity=self.workflow.at_capacity(moment))
        if body is not None:
            await self._publish_status(body)
        if ks.dirty:
            await self._commit.commit()

    async def prekey_count(self) -> int:
        """How many one-time prekeys the relay still holds for this program."""
        return await self._http.one_time_prekey_count(self.program_id, await self._session_token())

    async def set_origins(self, origins: list[str]) -> None:
        """Register the web origins (scheme://host[:port]) whose pages embed the widget.

        The relay admits browser requests (CORS) only from these origins.
        """
        await self._http.put_origins(self.program_id, await self._session_token(), origins)

    async def pending_on_relay(self) -> list[str]:
        """Ids of the messages the relay holds for this node, not yet acked."""
        messages = await self._http.program_messages(self.program_id, await self._session_token())
        return [str(m.get("id")) for m in messages]

    async def publish_profile(self, content: dict[str, Any]) -> None:
        """Sign and publish the profile (``content`` as in ``--profile FILE``)."""
        profile = publishing.profile_from_content(content, int(self._clock()))
        signed = sign_profile(self._identity, profile)
        token = await self._session_token()
        await self._http.put_profile(self.program_id, token, signed.to_json())
        store.put_json(self._ks, store.PROFILE_CONTENT, content)
        store.put_json(self._ks, store.PUBLISHED_PROFILE, signed.to_json())
        use_profile_check_in(self.workflow, content)
        await self._commit.commit()

    async def _publish_status(self, body: wf.StatusBody) -> None:
        signed = sign_status(self._identity, body.to_status())
        token = await self._session_token()
        await self._http.put_status(self.program_id, token, signed.to_json())
        self._keeper().published(body)
        store.put_json(self._ks, store.PUBLISHED_STATUS, signed.to_json())
        await self._commit.commit()

    async def check_published(self) -> None:
        """Raise :class:`VerificationFailure` unless the relay serves what we signed."""
        record = await self._http.get_program(self.program_id)
        try:
            key = b64u_decode(str(record.get("identity_key", "")))
        except QuietlineError:
            key = b""
        if (
            not constant_time_equal(key, self._identity.public_key)
            or record.get("program_id") != self.program_id
        ):
            raise VerificationFailure("published_mismatch", "relay serves another identity key")
        for name, served in (
            (store.PUBLISHED_PROFILE, record.get("profile")),
            (store.PUBLISHED_STATUS, record.get("status")),
        ):
            ours = store.get_json(self._ks, name)
            if ours is None or served is None:
                continue
            try:
                theirs = SignedObject.from_json(served)
            except QuietlineError:
                raise VerificationFailure(
                    "published_mismatch", "relay serves a malformed record"
                ) from None
            mine = SignedObject.from_json(ours)
            if not (
                constant_time_equal(theirs.body, mine.body)
                and constant_time_equal(theirs.signature, mine.signature)
            ):
                raise VerificationFailure(
                    "published_mismatch", "relay serves a profile or status we did not sign"
                )

    # -- sending -------------------------------------------------------------------

    def _get(self, conversation_id: str) -> _Conversation:
        c = self._conversations.get(conversation_id)
        if c is None:
            raise ConversationClosed(f"no open conversation {conversation_id}")
        return c

    def _keeper(self) -> wf.StatusKeeper:
        if self.workflow.status is None:
            self.workflow.status = wf.StatusKeeper()
        return self.workflow.status

    def _wf(self, call: Callable[[], list[wf.Action]]) -> list[wf.Action]:
        """A workflow notification that may name a conversation it does not know."""
        try:
            return call()
        except wf.UnknownConversation:
            return []

    def _clock(self) -> float:
        return self.workflow.clock.now().timestamp()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _send_payload(self, conversation_id: str, payload: pl.Payload) -> None:
        if self._closed:
            raise UsageError("the client is closed")
        c = self._get(conversation_id)
        c.session, envelope = c.session.encrypt(payload)
        self._ks.put(store.session_name(c.cid), c.session.to_bytes())
        self._append_transcript(c.cid, "program", payload)
        await self._commit.commit()  # state on disk before the envelope leaves
        await self._deliver(conversation_id, [b64u_encode(envelope)])

    async def _deliver(self, conversation_id: str, envelopes: list[str]) -> None:
        if self._socket is not None and self._socket.connected:
            with contextlib.suppress(RelayUnavailable):
                await self._socket.send(conversation_id, envelopes)
                return
        token = await self._session_token()
        await self._http.post_messages(conversation_id, token, envelopes)

    def _append_transcript(self, cid: str, sender: str, payload: pl.Payload) -> None:
        """Keep what staff need to continue; code words never enter the transcript."""
        if not isinstance(payload, pl.Text | pl.Notice | pl.Answers | pl.Duress | pl.Close):
            return
        name = store.transcript_name(cid)
        entries = store.get_json(self._ks, name) or []
        entry: dict[str, Any] = {"from": sender, "t": payload.T, "ts": payload.ts}
        if isinstance(payload, pl.Text | pl.Notice):
            entry["body"] = payload.body
        if isinstance(payload, pl.Notice):
            entry["kind"] = payload.kind
        if isinstance(payload, pl.Answers):
            entry["answers"] = dict(payload.answers)
        if isinstance(payload, pl.Close):
            entry["reason"] = payload.reason
        entries.append(entry)
        store.put_json(self._ks, name, entries)

    # -- receiving -----------------------------------------------------------------

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            await self._on_message(frame)
        elif kind == "closed":
            cid = str(frame.get("conversation_id", ""))
            if cid in self._conversations:
                c = self._conversations[cid]
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
            c = _Conversation(cid=cid, session=session, opened_at=now, last_participant_at=now)
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

    def _handle_payload(self, c: _Conversation, payload: pl.Payload, *, late: bool) -> None:
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

    async def _forget(self, cid: str, *, by: str, reason: str, commit: bool = True) -> None:
        self._conversations.pop(cid, None)
        self._closed_ids.add(cid)  # memory only: nothing of it is written down
        if cid in self.workflow.open_conversations():
            self.workflow.participant_left(cid)
        store.forget_conversation(self._ks, cid, retain_transcript=self.retain_transcripts)
        event = ev.ConversationClosedEvent(cid, by, reason)
        if commit:
            await self._commit.commit()
            self._events.put(event)
        else:
            self._pending_events.append(event)

    def _save(self) -> None:
        """Write the keystore (one atomic file), the workflow's state with it."""
        self._stash_workflow()
        self._ks.save()

    def _stash_workflow(self) -> None:
        """Put the workflow's state in the keystore when it changed (saved with the next
        write): a restart then resumes queue order, assignments, urgency and timers."""
        state = self.workflow.export_state()
        if self._ks.get(store.WORKFLOW_STATE) != state:
            self._ks.put(store.WORKFLOW_STATE, state)

    def _restore_conversations(self) -> None:
        for cid in store.open_conversations(self._ks):
            raw = self._ks.get(store.session_name(cid))
            if raw is None:
                continue
            meta = store.get_json(self._ks, store.meta_name(cid)) or {}
            self._conversations[cid] = _Conversation.restore(cid, conv.load_session(raw), meta)
        # The workflow resumes as it was saved (an urgent conversation stays urgent, the
        # queue keeps its order); its notices were sent before the restart.
        saved = self._ks.get(store.WORKFLOW_STATE)
        if saved is not None:
            try:
                self.workflow.import_state(saved, staff_pending=True)
            except wf.WorkflowError:
                log.warning("the saved workflow state is unreadable; conversations re-queued")
        known = set(self.workflow.open_conversations())
        for cid in sorted(known - set(self._conversations)):  # no session left to resume
            self.workflow.participant_left(cid)
        for cid, c in self._conversations.items():
            if cid in known:
                continue
            # Not in the saved state (saved before it opened): queued again.
            with contextlib.suppress(wf.WorkflowError):
                self.workflow.conversation_opened(cid)
                if c.assigned_to is not None:
                    self.workflow.claim(cid, c.assigned_to)

    def _load_code_words(self) -> None:
        for name in self._ks.names(store.CODE_WORD):
            raw = self._ks.get(name)
            if raw is not None:
                self.workflow.codewords.add_record(wf.CodeWordRecord.from_bytes(raw))

    # -- relay session -------------------------------------------------------------

    async def _session_token(self, refresh: bool = False) -> str:
        if refresh or self._token is None or time.monotonic() >= self._token_expires:
            token, expires_in = await publishing.authenticate(
                self._http, self._identity, self._origin
            )
            self._token = token
            self._token_expires = time.monotonic() + max(1, expires_in - 30)
        return self._token

    async def _ws_token(self) -> str:
        # a reconnect may follow a relay restart that forgot our session: sign in again
        reconnecting = self._socket is not None and self._socket.connections > 0
        return await self._session_token(refresh=reconnecting)
