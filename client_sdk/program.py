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

The node is built in layers, each its own module under :mod:`client_sdk.node` (state,
transport, bundle, actions, receive); this module puts them together.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from client_sdk import events as ev
from client_sdk import publishing, store
from client_sdk import workflow as wf
from client_sdk.counters import FailedIds
from client_sdk.errors import UsageError
from client_sdk.keystore import Keystore
from client_sdk.lock import KeystoreLock
from client_sdk.node.actions import MAINTAIN_SECONDS, TICK_SECONDS
from client_sdk.node.receive import MAX_RECENT_IDS, NodeReceiver
from client_sdk.node.state import OpenConversation
from client_sdk.outbox import Outbox
from client_sdk.transport import Backoff, RelayHTTP, RelaySocket, relay_origin
from client_sdk.workflow.prekeys import PrekeyPolicy
from e2ee.encoding import b64u_encode
from e2ee.identity import fingerprint
from e2ee.primitives import RandomSource, system_random

log = logging.getLogger("client_sdk.program")

__all__ = ["MAINTAIN_SECONDS", "MAX_RECENT_IDS", "TICK_SECONDS", "ProgramClient"]

# The old private name of an open conversation's record.
_Conversation = OpenConversation


class ProgramClient(NodeReceiver):
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
        self._outbox = Outbox(ks, self._commit.commit, self._deliver)
        self._workflow_head: bytes | None = None
        self._conversations: dict[str, OpenConversation] = {}
        self._events = ev.EventStream()
        self._pending_events: list[ev.Event] = []
        self._pending_acks: list[str] = []
        self._failed_ids = FailedIds()
        self._opened: list[str] = []
        self._closed_ids: set[str] = set()
        self._new_since_maintain = 0
        self._maintainer: asyncio.Task[None] | None = None
        self._draining_until = 0.0
        self._published_generation = 0
        self._publisher: asyncio.Task[None] | None = None
        self._generation_due = False
        self._maintaining = asyncio.Lock()
        self._closed = False
        self._lock: KeystoreLock | None = None

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
        lock: KeystoreLock | None = None,
    ) -> ProgramClient:
        """Lock and open the keystore, authenticate, check and top up the bundle, open the socket.

        ``origin`` is the relay's public origin when it differs from the URL this node
        reaches it by (e.g. behind a reverse proxy). ``workflow`` carries the support
        line's rules (staff, queue, timers, notices, status); by default one with no staff,
        the program's canned notices and an always-open status. ``clock`` is the
        workflow's clock (a ``ManualClock`` in tests); with ``auto_tick`` the node runs
        :meth:`tick` every few seconds and :meth:`maintain` every few minutes.
        ``max_replay_tags`` bounds the inits accepted under one signed prekey (see
        :mod:`client_sdk.store`); when reached, the prekey is rotated at once.

        One process per keystore: the keystore's lock file (:mod:`client_sdk.lock`) is
        taken first, before the passphrase is even tried, and held until :meth:`aclose`;
        when another node holds it this raises :class:`~client_sdk.lock.KeystoreInUse`
        at once. A caller that took the lock itself (to read the keystore first) passes
        it as ``lock``; the client then owns it and releases it at close or on failure.
        """
        lock = lock or KeystoreLock.acquire(keystore_path)
        try:
            ks = await asyncio.to_thread(Keystore.open, keystore_path, passphrase)
            clock = clock or (workflow.clock if workflow is not None else wf.SystemClock())
            try:
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
            except BaseException:
                ks.close()
                raise
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        try:
            await self._session_token()
            await self.check_generation()  # the relay's copy: a rollback of the disk
            stale = self._discard_stale()
            self._load_code_words()
            self._restore_conversations()
            await self._close_stale(stale)
            await self.check_published()
            await self.maintain()
            await self.publish_generation()
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
            self._outbox.kick()  # what a relay outage left queued, even before a restart
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
        tasks = [
            t
            for t in (self._ticker, self._maintainer, self._publisher)
            if t is not None and not t.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            # bounded: on Python 3.11 wait_for can swallow a cancellation (gh-86296)
            await asyncio.wait(tasks, timeout=5)
        await self._outbox.aclose()
        if self._socket is not None:
            await self._socket.close()
        await self._http.aclose()
        self._stash_workflow()
        try:
            if self._ks.dirty:
                self._ks.save()
            self._ks.close()
        finally:
            if self._lock is not None:
                self._lock.release()  # only now: every write of this node is done
        self._events.end()

    @property
    def conversations(self) -> list[str]:
        """Ids of the open conversations."""
        return sorted(self._conversations)

    def events(self) -> AsyncIterator[ev.Event]:
        """Typed events, in order, until the client is closed."""
        return aiter(self._events)
