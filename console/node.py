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

The node is built in layers, each its own module: :mod:`console.view` (what each
account may see), :mod:`console.updates` (the event consumer and live updates),
:mod:`console.actions` (staff actions); this module builds and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher

from client_sdk import ProgramClient, store
from client_sdk import workflow as wf
from client_sdk.keystore import Keystore
from client_sdk.lock import KeystoreLock
from client_sdk.transport import Backoff
from console import rules, staffing
from console.accounts import Account, StaffAccounts
from console.actions import ConsoleActions
from console.errors import SetupError
from console.hub import Hub
from console.passwords import PasswordWork
from console.replies import SavedReplies
from console.settings import ConsoleSettings
from console.stat_events import EventCounter
from console.statistics import Statistics
from console.timeline import Timeline
from console.view import Alert

__all__ = ["Alert", "ConsoleNode"]

log = logging.getLogger("console.node")


class ConsoleNode(ConsoleActions):
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
        self.passwords = PasswordWork(
            workers=settings.password_workers, waiting=settings.password_waiting
        )
        self.replies = SavedReplies(program.keystore)
        self._shifts = staffing.Shifts(program.keystore)
        self.statistics = EventCounter(Statistics(program.keystore))
        self._stats_save: asyncio.Task[None] | None = None
        self._hub = Hub(settings.subscriber_queue)
        self._staff: dict[str, Account] = {}
        self._timelines: dict[str, Timeline] = {}
        self._labels: dict[str, str] = {}
        self._holders: dict[str, str | None] = {}
        self._queued_at: dict[str, int] = {}
        self._shown_waiting: dict[str, set[str]] = {}
        self._alerts: dict[str, Alert] = {}
        self._alert_numbers = 0
        self._consumer: asyncio.Task[None] | None = None
        self._snapshot_due = False
        self._closed = False
        self._library = 0  # bumped when saved replies or code words may have changed
        self.rules_listeners: list[Callable[[rules.ShiftRules], None]] = []
        # the web app ends an account's browser sessions (a password reset)
        self.signout_listeners: list[Callable[[str], None]] = []

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
        node._apply_rules()
        for cid in program.conversations:
            node._timelines[cid] = Timeline.from_transcript(program.transcript(cid))
            node._label(cid)
            with contextlib.suppress(wf.UnknownConversation):
                view = node.workflow.conversation(cid)
                node._holders[cid] = view.assigned_to
                node.statistics.resume(cid, view.opened_at, answered=view.assigned_to is not None)
        node._consumer = asyncio.create_task(node._consume())
        await program.tick()  # the status as the rule says now
        return node

    async def aclose(self) -> None:
        """Stop: every browser's stream ends, then the program node disconnects."""
        if self._closed:
            return
        self._closed = True
        self._hub.close()
        self.passwords.close()
        await self.program.aclose()  # ends the event stream: the consumer returns
        if self._consumer is not None:
            await asyncio.wait([self._consumer], timeout=5)
            self._consumer.cancel()

    def admin_changed(self) -> None:
        """An admin operation changed staff, settings or the profile: reload what depends
        on them (accounts, posted hours, alternatives, shift rules, code words), re-check
        the status at the next tick, and send every browser a fresh snapshot."""
        self._reload_staff()
        self._apply_rules()
        self._reload_code_words()
        self._library += 1
        if self.workflow.status is not None:
            staffing.configure_status(self.workflow.status, self.program.keystore)
        self._changed()

    def _apply_rules(self) -> None:
        """The stored shift rules to the workflow and (through the listeners the web app
        registers in :attr:`rules_listeners`) to the web sessions' idle sign-out."""
        found = rules.stored(self.program.keystore)
        if found is None:
            return
        self.workflow.settings = found.workflow_settings(self.workflow.settings)
        self.settings = dataclasses.replace(self.settings, idle_signout_minutes=found.idle_minutes)
        for listener in self.rules_listeners:
            listener(found)

    def end_sessions(self, staff_id: str) -> None:
        """Sign ``staff_id`` out of every browser (after a password reset: whoever knew
        the old password keeps no session)."""
        self._hub.end_account(staff_id, {"type": "signed_out", "reason": "expired"})
        for listener in self.signout_listeners:
            listener(staff_id)

    @property
    def current_rules(self) -> rules.ShiftRules | None:
        """The shift rules the program stored, or None (the defaults apply)."""
        return rules.stored(self.program.keystore)

    def _reload_code_words(self) -> None:
        """The code words as stored (a word added, rotated or removed counts at once)."""
        book = self.workflow.codewords
        stored = {}
        for name in self.program.keystore.names(store.CODE_WORD):
            raw = self.program.keystore.get(name)
            if raw is not None:
                record = wf.CodeWordRecord.from_bytes(raw)
                stored[record.alias] = record
        for record in book.records():
            if record.alias not in stored:
                book.remove(record.alias)
        for alias, record in stored.items():
            current = book.get(alias)
            if current is None or current.to_bytes() != record.to_bytes():
                book.add_record(record)

    async def __aenter__(self) -> ConsoleNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
