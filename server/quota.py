"""Storage quotas: how much waits undelivered, per conversation and per program.

The relay's process keeps a ledger of every message row waiting in the database (its
id, conversation, recipient slot and size: nothing of its content), so a send can be
checked against the quotas without a query: at most ``quota_messages_per_conversation``
and ``quota_bytes_per_conversation`` waiting in one conversation (both directions),
and ``quota_messages_per_program`` and ``quota_bytes_per_program`` in all of a
program's conversations. A send past one is refused with 429 ``quota_exceeded``; the
quota frees up as recipients ack.

The ledger follows every write: a committed send adds its rows, an ack removes the rows
its DELETE removed (the same conditions), a close or sweep its conversations' rows; it
is read from the database at start and again after each sweep (which also drops rows
past their TTL), so it never drifts for long. Several relay processes on one database
(a broker between them, docs/scale-out.md) also read it again every
``quota_refresh_seconds`` (5 s): each then counts what the others stored and what was
acked through them, and can let through at most what the others accepted since their
last read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from server.errors import ApiError
from server.storage import PROGRAM_SLOT, Principal

_LOAD_CONVERSATIONS = "SELECT conversation_id, program_id FROM conversations"
_LOAD_MESSAGES = (
    "SELECT m.message_id, m.conversation_id, m.recipient_slot, length(m.envelope),"
    " c.program_id FROM messages AS m JOIN conversations AS c"
    " ON c.conversation_id = m.conversation_id"
)


class Ledger:
    """Waiting messages by id, and totals per conversation and per program."""

    def __init__(
        self,
        *,
        conversation_messages: int,
        conversation_bytes: int,
        program_messages: int,
        program_bytes: int,
    ) -> None:
        self.limits = (conversation_messages, conversation_bytes, program_messages, program_bytes)
        self._rows: dict[bytes, tuple[bytes, int, int]] = {}
        """message id -> (conversation id, recipient slot, size)"""
        self._conversations: dict[bytes, list[Any]] = {}
        """conversation id -> [program id, messages, bytes, set of message ids], for every
        open conversation (until it is closed or swept)"""
        self._programs: dict[bytes, list[int]] = {}
        """program id -> [messages, bytes]"""

    # -- reading ----------------------------------------------------------------------

    def load(self, conn: Connection) -> None:
        """Start over from the database (at start, and after each sweep). The new state
        is built aside and swapped in at once (the writer may run on its own thread)."""
        fresh = Ledger(
            conversation_messages=self.limits[0],
            conversation_bytes=self.limits[1],
            program_messages=self.limits[2],
            program_bytes=self.limits[3],
        )
        for cid, pid in conn.execute(text(_LOAD_CONVERSATIONS)):
            fresh.opened(bytes(pid), bytes(cid))
        for mid, cid, slot, size, pid in conn.execute(text(_LOAD_MESSAGES)):
            fresh._add(bytes(pid), bytes(cid), bytes(mid), int(slot), int(size))
        self._rows, self._conversations, self._programs = (
            fresh._rows,
            fresh._conversations,
            fresh._programs,
        )

    def waiting(self, conversation_id: bytes) -> tuple[int, int]:
        entry = self._conversations.get(conversation_id)
        return (0, 0) if entry is None else (entry[1], entry[2])

    def program_waiting(self, program_id: bytes) -> tuple[int, int]:
        entry = self._programs.get(program_id)
        return (0, 0) if entry is None else (entry[0], entry[1])

    def totals(self) -> tuple[int, int]:
        """Messages and bytes waiting in all (server.metrics)."""
        programs = list(self._programs.values())
        return sum(t[0] for t in programs), sum(t[1] for t in programs)

    def check(
        self, program_id: bytes | None, conversation_id: bytes, count: int, size: int
    ) -> None:
        """Refuse a send of ``count`` envelopes of ``size`` bytes in all that would pass a
        quota. ``program_id`` may be None for a participant's send: the conversation's
        program is then the one the ledger knows (none when nothing waits in it)."""
        max_cm, max_cb, max_pm, max_pb = self.limits
        entry = self._conversations.get(conversation_id)
        if entry is not None:
            if entry[1] + count > max_cm or entry[2] + size > max_cb:
                raise ApiError(
                    "quota_exceeded",
                    "Too much is waiting in this conversation; wait for the other side.",
                )
            program_id = program_id or entry[0]
        if program_id is not None:
            totals = self._programs.get(program_id)
            if totals is not None and (totals[0] + count > max_pm or totals[1] + size > max_pb):
                raise ApiError(
                    "quota_exceeded", "Too much is waiting for this program; try again later."
                )

    # -- following the writes ---------------------------------------------------------

    def opened(self, program_id: bytes, conversation_id: bytes) -> None:
        if conversation_id not in self._conversations:
            self._conversations[conversation_id] = [program_id, 0, 0, set()]

    def sent(
        self,
        program_id: bytes,
        conversation_id: bytes,
        message_ids: Sequence[bytes],
        slots: Sequence[int],
        envelopes: Iterable[tuple[int, bytes]],
    ) -> None:
        for mid, slot, (_, raw) in zip(message_ids, slots, envelopes, strict=True):
            self._add(program_id, conversation_id, mid, slot, len(raw))

    def acked(self, who: Principal, message_ids: Iterable[bytes]) -> None:
        """Drop the rows an ack deleted: the caller's own (as the DELETE's conditions)."""
        for mid in message_ids:
            row = self._rows.get(mid)
            if row is None:
                continue
            cid, slot, _ = row
            if who.is_program:
                entry = self._conversations.get(cid)
                if slot != PROGRAM_SLOT or entry is None or entry[0] != who.program_id:
                    continue
            elif cid != who.conversation_id or slot != who.slot:
                continue
            self._remove(mid)

    def forget(self, conversation_id: bytes) -> None:
        """A closed or swept conversation: every row of it is gone."""
        entry = self._conversations.pop(conversation_id, None)
        if entry is None:
            return
        totals = self._programs.get(entry[0])
        for mid in entry[3]:
            self._rows.pop(mid, None)
        if totals is not None:
            totals[0] -= entry[1]
            totals[1] -= entry[2]
            if totals[0] <= 0:
                del self._programs[entry[0]]

    def _add(self, pid: bytes, cid: bytes, mid: bytes, slot: int, size: int) -> None:
        if mid in self._rows:
            return
        self._rows[mid] = (cid, slot, size)
        self.opened(pid, cid)
        entry = self._conversations[cid]
        entry[1] += 1
        entry[2] += size
        entry[3].add(mid)
        totals = self._programs.get(pid)
        if totals is None:
            totals = self._programs[pid] = [0, 0]
        totals[0] += 1
        totals[1] += size

    def _remove(self, mid: bytes) -> None:
        row = self._rows.pop(mid, None)
        if row is None:
            return
        cid, _, size = row
        entry = self._conversations.get(cid)
        if entry is None:
            return
        entry[1] -= 1
        entry[2] -= size
        entry[3].discard(mid)
        totals = self._programs.get(entry[0])
        if totals is None:
            return
        totals[0] -= 1
        totals[1] -= size
        if totals[0] <= 0:
            del self._programs[entry[0]]
