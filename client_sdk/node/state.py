"""The program node's state: its open conversations and what the keystore keeps of them.

Security properties:

- At rest: ratchet state, the transcript of every open conversation and the workflow's
  state live in the keystore (each conversation under its own key, wrapped under the
  passphrase's); :meth:`NodeState._save` writes what changed in one transaction, and a
  message adds one transcript record: its cost does not grow with the number or the
  length of the conversations.
- A keystore older than the newest generation its witness has seen (a copy put back)
  is never resumed: :meth:`NodeState._discard_stale` destroys its conversations,
  prekey secrets and replay tags before anything is loaded.
- Code words never enter the transcript.
- At close, the conversation's session, metadata and transcript are deleted from the
  keystore (the transcript is kept only if the program turned retention on); the ids
  of conversations closed by this process are remembered in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from client_sdk import conversation as conv
from client_sdk import events as ev
from client_sdk import store
from client_sdk import workflow as wf
from client_sdk.counters import CounterTracker, FailedIds
from client_sdk.errors import ConversationClosed
from client_sdk.keystore import Keystore
from client_sdk.lock import KeystoreLock
from client_sdk.outbox import Outbox
from client_sdk.transport import Backoff, RelayHTTP, RelaySocket
from client_sdk.workflow.prekeys import PrekeyPolicy
from e2ee import payload as pl
from e2ee.identity import IdentityKeyPair
from e2ee.primitives import RandomSource
from e2ee.session import ProgramSession

log = logging.getLogger("client_sdk.program")


@dataclass
class OpenConversation:
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
    # memory only: this node is closing it (the relay's "closed" to every side is then
    # this node's own close coming back, not the participant leaving)
    closing: bool = False

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
    def restore(cls, cid: str, session: ProgramSession, meta: dict[str, Any]) -> OpenConversation:
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


class NodeState:
    """What the node holds, and its keystore-backed state.

    The attributes are set by :class:`client_sdk.program.ProgramClient`'s constructor;
    the layers above this one (transport, bundle, actions, receive) read and change them.
    """

    program_id: str
    identity_key: str
    fingerprint: str
    retain_transcripts: bool
    workflow: wf.Workflow
    _max_replay_tags: int
    _relay_url: str
    _ks: Keystore
    _identity: IdentityKeyPair
    _origin: str
    _random: RandomSource
    _policy: PrekeyPolicy
    _backoff: Backoff
    _auto_tick: bool
    _ticker: asyncio.Task[None] | None
    _http: RelayHTTP
    _socket: RelaySocket | None
    _token: str | None
    _token_expires: float
    _commit: store.GroupCommit
    _outbox: Outbox
    _workflow_head: bytes | None
    _conversations: dict[str, OpenConversation]
    _events: ev.EventStream
    _pending_events: list[ev.Event]
    _pending_acks: list[str]
    _failed_ids: FailedIds
    _opened: list[str]
    _closed_ids: set[str]
    _new_since_maintain: int
    _maintainer: asyncio.Task[None] | None
    _draining_until: float
    _published_generation: int
    """The store generation last kept on the relay (client_sdk.node.bundle)."""
    _publisher: asyncio.Task[None] | None
    _generation_due: bool
    """Monotonic time until which the pool counts as draining (see PrekeyPolicy)."""
    _maintaining: asyncio.Lock
    _closed: bool
    _lock: KeystoreLock | None

    @property
    def keystore(self) -> Keystore:
        """The open keystore, for the records of a layer above the SDK (the console's
        staff accounts and saved replies). Change it with ``put``/``delete``, then
        :meth:`save`; never save it by hand and never open the file a second time."""
        return self._ks

    async def save(self) -> None:
        """Write the keystore now (grouped with the node's own saves, atomic)."""
        await self._commit.commit()

    def _get(self, conversation_id: str) -> OpenConversation:
        c = self._conversations.get(conversation_id)
        if c is None:
            raise ConversationClosed(f"no open conversation {conversation_id}")
        return c

    def _clock(self) -> float:
        return self.workflow.clock.now().timestamp()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

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

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """The open conversation's messages (from the keystore; gone after close)."""
        self._get(conversation_id)
        return store.transcript(self._ks, conversation_id)

    def _append_transcript(self, cid: str, sender: str, payload: pl.Payload) -> None:
        """Keep what staff need to continue; code words never enter the transcript."""
        if not isinstance(payload, pl.Text | pl.Notice | pl.Answers | pl.Duress | pl.Close):
            return
        entry: dict[str, Any] = {"from": sender, "t": payload.T, "ts": payload.ts}
        if isinstance(payload, pl.Text | pl.Notice):
            entry["body"] = payload.body
        if isinstance(payload, pl.Notice):
            entry["kind"] = payload.kind
        if isinstance(payload, pl.Answers):
            entry["answers"] = dict(payload.answers)
        if isinstance(payload, pl.Close):
            entry["reason"] = payload.reason
        store.append_transcript(self._ks, cid, entry)

    async def _forget(
        self, cid: str, *, by: str, reason: str, commit: bool = True, drop_queued: bool = True
    ) -> None:
        """Destroy a closed conversation's key and records. Its queued sends go too (the
        relay would refuse them), unless the relay was unreachable when the node closed
        it: then its closing message still goes when the relay is back."""
        self._conversations.pop(cid, None)
        self._closed_ids.add(cid)  # memory only: nothing of it is written down
        if cid in self.workflow.open_conversations():
            self.workflow.participant_left(cid)
        store.forget_conversation(self._ks, cid, retain_transcript=self.retain_transcripts)
        if drop_queued:
            self._outbox.drop(cid)
        event = ev.ConversationClosedEvent(cid, by, reason)
        self._generation_due = True  # a close: keep the new generation on the relay
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
        """Put what changed in the workflow's state in the keystore (saved with the next
        write): the row of each conversation that changed, in that conversation's
        records, so the cost does not grow with the number of open conversations. A
        restart then resumes queue order, assignments, urgency and timers."""
        head, rows = self.workflow.export_changes()
        if head != self._workflow_head:
            self._ks.put(store.WORKFLOW_STATE, head)
            self._workflow_head = head
        for cid, row in rows.items():
            if row is not None and cid in self._conversations:
                self._ks.put(store.workflow_name(cid), row)
            elif row is None and cid in self._conversations:
                self._ks.delete(store.workflow_name(cid))

    def _saved_workflow(self) -> bytes | None:
        """The workflow's state as saved: its own record with each conversation's row."""
        saved = self._ks.get(store.WORKFLOW_STATE)
        if saved is None:
            return None
        try:
            state = json.loads(saved.decode("utf-8"))
            rows = {r["id"]: r for r in state.get("conversations", [])}  # format 1: all in one
            for cid in self._conversations:
                raw = self._ks.get(store.workflow_name(cid))
                if raw is not None:
                    rows[cid] = json.loads(raw.decode("utf-8"))
            state["conversations"] = sorted(rows.values(), key=lambda r: r["seq"])
        except (ValueError, TypeError, KeyError, AttributeError):
            return saved  # import_state says what is wrong with it
        return json.dumps(state, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def _discard_stale(self) -> list[str]:
        """If the keystore is a rolled-back copy, destroy what must not be used again."""
        if not self._ks.stale:
            return []
        closed = store.discard_stale(self._ks)
        log.warning(
            "the keystore is older than the newest one this program used (a copy put back):"
            " %d conversation(s) closed, prekeys discarded",
            len(closed),
        )
        return closed

    def _restore_conversations(self) -> None:
        for cid in store.open_conversations(self._ks):
            raw = self._ks.get(store.session_name(cid))
            if raw is None:
                continue
            meta = store.get_json(self._ks, store.meta_name(cid)) or {}
            self._conversations[cid] = OpenConversation.restore(cid, conv.load_session(raw), meta)
        # The workflow resumes as it was saved (an urgent conversation stays urgent, the
        # queue keeps its order); its notices were sent before the restart.
        saved = self._saved_workflow()
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
