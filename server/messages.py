"""Messages: the store-and-forward hot path (send, ack, pending).

A message row is one envelope for one recipient slot; it lives until that recipient
acks it (or the conversation closes, or its TTL passes: see :mod:`server.storage`).
Sends and acks are :class:`~server.writer.Coalesced` ops, run together by the group
commit. Authorization happens inside the same transaction as the write, so a send to
a conversation that was just closed is refused, never stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from server.errors import ApiError
from server.models import hour_bucket
from server.storage import PROGRAM_SLOT, Principal, conversations_t, messages_t
from server.writer import Coalesced


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message_id: bytes
    conversation_id: bytes
    envelope: bytes
    seq: int


@dataclass(slots=True)
class Sent:
    program_id: bytes
    message_ids: list[bytes]
    recipients: list[int]


# Hot-path statements as plain SQL. On SQLite they run straight on the driver's cursor:
# SQLAlchemy's per-statement bookkeeping costs more than SQLite's own work here.
# Elsewhere they run through SQLAlchemy as text(). A batch's rows go in multi-row
# statements (one INSERT for all the new rows, one DELETE per ack), up to _IN_CHUNK
# rows each: one statement to prepare and step instead of one per row.
_IN_CHUNK = 500  # rows per statement; SQLite allows 32,766 bound parameters
MEMO_CONVERSATIONS = 100_000
"""The most conversations the writer's memo holds (about 250 bytes each: 25 MB at most)."""
_CONVERSATIONS = (
    "SELECT conversation_id, program_id, state, active_at FROM conversations"
    " WHERE conversation_id IN ({})"
)
_MEMBER_SLOT = "SELECT 1 FROM members WHERE conversation_id = :cid AND slot = :slot"
_INSERT_MESSAGES = (
    "INSERT INTO messages (message_id, conversation_id, recipient_slot, envelope, created_at)"
    " VALUES {}"
)
_TOUCH = (
    "UPDATE conversations SET state = :state, active_at = :active_at WHERE conversation_id = :cid"
)
_ACK_PROGRAM = (
    "DELETE FROM messages WHERE message_id IN ({ids}) AND recipient_slot = 1 AND EXISTS"
    " (SELECT 1 FROM conversations AS c WHERE c.conversation_id = messages.conversation_id"
    " AND c.program_id = {pid})"
)
_ACK_MEMBER = (
    "DELETE FROM messages WHERE message_id IN ({ids}) AND conversation_id = {cid}"
    " AND recipient_slot = {slot}"
)


# PostgreSQL (the writer's psycopg connection): the same statements over arrays
# (``= ANY``, ``unnest``), so each keeps one text whatever the batch size: psycopg
# converts it once and prepares it on the server, and SQLAlchemy is not in the way
# (measured with bench/scale_bench.py: they were a third of the writer's time). The
# arrays go in PostgreSQL's binary format (``%(name)b``): as text, every envelope would
# be hex-escaped byte by byte.
_PG_CONVERSATIONS = (
    "SELECT conversation_id, program_id, state, active_at FROM conversations"
    " WHERE conversation_id = ANY(%(ids)b)"
)
_PG_INSERT_MESSAGES = (
    "INSERT INTO messages (message_id, conversation_id, recipient_slot, envelope, created_at)"
    " SELECT * FROM unnest(%(mid)b::bytea[], %(cid)b::bytea[], %(slot)b::int[],"
    " %(env)b::bytea[], %(at)b::int[])"
)
_PG_ACK_PROGRAM = (
    "DELETE FROM messages WHERE message_id = ANY(%(ids)b) AND recipient_slot = 1 AND EXISTS"
    " (SELECT 1 FROM conversations AS c WHERE c.conversation_id = messages.conversation_id"
    " AND c.program_id = %(pid)s)"
)
_PG_ACK_MEMBER = (
    "DELETE FROM messages WHERE message_id = ANY(%(ids)b) AND conversation_id = %(cid)b"
    " AND recipient_slot = %(slot)s"
)


def _on_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def _pg(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    """Run on psycopg's own cursor, in the writer's transaction; the caller closes it."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, params)
    return cursor


def _execute(conn: Connection, sql: str, params: dict[str, Any] | list[Any]) -> Any:
    """Run one statement and return its cursor or result, which the caller closes (see
    :func:`_fetch_one`, :func:`_fetch_all`, :func:`_rowcount`). ``params`` is a list for
    positional ``?`` marks (SQLite only, see :class:`_Marks`), else a dict."""
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        return cursor.execute(sql, params)
    return conn.execute(text(sql), params)


def _fetch_one(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    result = _execute(conn, sql, params)
    try:
        return result.fetchone()
    finally:
        result.close()


def _fetch_all(conn: Connection, sql: str, params: dict[str, Any] | list[Any]) -> list[Any]:
    result = _execute(conn, sql, params)
    try:
        return list(result.fetchall())
    finally:
        result.close()


def _rowcount(conn: Connection, sql: str, params: dict[str, Any] | list[Any]) -> int:
    """Run a statement that changes rows; returns how many it changed."""
    result = _execute(conn, sql, params)
    try:
        return int(result.rowcount)
    finally:
        result.close()


class _Marks:
    """Bound parameters for a statement built at run time (IN lists, multi-row VALUES),
    added in the order their marks appear in the statement.

    On SQLite they are positional (``?``, values in a list), which the driver binds
    faster than names; elsewhere named (``:p0``, ``:p1``..), as SQLAlchemy's text()
    needs."""

    def __init__(self, conn: Connection) -> None:
        self.positional = conn.dialect.name == "sqlite"
        self.values: list[Any] = []
        self.named: dict[str, Any] = {}

    def add(self, values: Sequence[Any]) -> str:
        """Marks for ``values``, comma-separated."""
        if self.positional:
            self.values += values
            return ", ".join("?" * len(values))
        first = len(self.named)
        names = [f"p{i}" for i in range(first, first + len(values))]
        self.named.update(zip(names, values, strict=True))
        return ", ".join(":" + n for n in names)

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> str:
        """Marks for each of ``rows`` (all as long as the first) in parentheses,
        comma-separated: a multi-row VALUES. Positional marks are the same for every row,
        so they are made once and the values go in one flat list."""
        if not self.positional:
            return ", ".join(f"({self.add(row)})" for row in rows)
        self.values += [value for row in rows for value in row]
        return ", ".join(["(" + ", ".join("?" * len(rows[0])) + ")"] * len(rows))

    def params(self) -> dict[str, Any] | list[Any]:
        return self.values if self.positional else self.named


def _conversations(conn: Connection, cids: list[bytes]) -> dict[bytes, list[Any]]:
    """``[program_id, state, active_at]`` of each existing conversation among ``cids``,
    read with one SELECT per chunk instead of one per conversation."""
    found: dict[bytes, list[Any]] = {}
    if _on_postgres(conn):
        with _pg(conn, _PG_CONVERSATIONS, {"ids": cids}) as cursor:
            for row in cursor.fetchall():
                found[bytes(row[0])] = [bytes(row[1]), row[2], row[3]]
        return found
    for start in range(0, len(cids), _IN_CHUNK):
        marks = _Marks(conn)
        sql = _CONVERSATIONS.format(marks.add(cids[start : start + _IN_CHUNK]))
        for row in _fetch_all(conn, sql, marks.params()):
            found[bytes(row[0])] = [row[1], row[2], row[3]]
    return found


def _known_conversations(
    conn: Connection, cids: list[bytes], memo: dict[str, Any]
) -> dict[bytes, list[Any]]:
    """:func:`_conversations`, through the writer's memo (see :class:`server.writer.Writer`):
    only those it does not hold yet are read. A send changes its conversation's entry
    in place as it writes the row (:data:`_TOUCH`). A conversation that does not exist is
    not remembered; the memo starts over past :data:`MEMO_CONVERSATIONS` entries."""
    known: dict[bytes, list[Any]] = memo.setdefault("conversations", {})
    unread = [cid for cid in dict.fromkeys(cids) if cid not in known]
    if unread:
        if len(known) + len(unread) > MEMO_CONVERSATIONS:
            known.clear()
            unread = list(dict.fromkeys(cids))
        known.update(_conversations(conn, unread))
    return known


def _insert_messages(conn: Connection, rows: list[tuple[bytes, bytes, int, bytes, int]]) -> None:
    """Insert (message_id, conversation_id, recipient_slot, envelope, created_at) rows."""
    if _on_postgres(conn):
        mid, cid, slot, env, at = (list(column) for column in zip(*rows, strict=True))
        params = {"mid": mid, "cid": cid, "slot": slot, "env": env, "at": at}
        _pg(conn, _PG_INSERT_MESSAGES, params).close()
        return
    for start in range(0, len(rows), _IN_CHUNK):
        marks = _Marks(conn)
        values = marks.add_rows(rows[start : start + _IN_CHUNK])
        _rowcount(conn, _INSERT_MESSAGES.format(values), marks.params())


def _delete_acked(conn: Connection, sql: str, ids: Sequence[bytes], **fixed: Any) -> int:
    """Run an ack DELETE over ``ids`` (chunked, the ``{ids}`` of ``sql``) and its other
    fields (``fixed``); returns how many rows it deleted."""
    if _on_postgres(conn):
        pg_sql = _PG_ACK_PROGRAM if sql is _ACK_PROGRAM else _PG_ACK_MEMBER
        with _pg(conn, pg_sql, {"ids": list(ids), **fixed}) as cursor:
            return int(cursor.rowcount)
    count = 0
    for start in range(0, len(ids), _IN_CHUNK):
        marks = _Marks(conn)
        in_list = marks.add(ids[start : start + _IN_CHUNK])
        others = {name: marks.add((value,)) for name, value in fixed.items()}
        count += _rowcount(conn, sql.format(ids=in_list, **others), marks.params())
    return count


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 3-4x as much to make
class SendOp(Coalesced):
    """Store one envelope per recipient slot. The conversation becomes active when the
    program first sends in it; its idle clock moves to the current hour."""

    who: Principal
    conversation_id: bytes
    envelopes: Sequence[tuple[int, bytes]]
    now: int
    texts: Sequence[str]
    """Each envelope's base64url as received, forwarded as is."""
    resend_key: bytes = b""
    """The keyed hash that recognizes this send if it comes again (server.limits.RecentSends)."""
    shared_key: str = ""
    """Its name in Redis, with Redis between relay processes (server/shared_sends.py)."""
    shared: Any = None
    """After the commit: the future of its SET in Redis (answer once it is done)."""

    @classmethod
    def run_many(
        cls, conn: Connection, ops: list[SendOp], memo: dict[str, Any]
    ) -> list[Sent | ApiError]:
        conversations = _known_conversations(conn, [op.conversation_id for op in ops], memo)
        # Every message id of the batch from one read of the OS's random source.
        random = secrets.token_bytes(16 * sum(len(op.envelopes) for op in ops))
        used = 0
        results: list[Sent | ApiError] = []
        inserts: list[tuple[bytes, bytes, int, bytes, int]] = []
        touched: dict[bytes, list[Any]] = {}  # each UPDATEd once: at most once an hour
        for op in ops:
            cid, who, envelopes = op.conversation_id, op.who, op.envelopes
            current = conversations.get(cid)
            refusal = _refuse_send(conn, op, None if current is None else current[0])
            if refusal is not None:
                results.append(refusal)
                continue
            assert current is not None  # an unknown conversation was refused
            bucket = hour_bucket(op.now)
            if who.is_program and current[1] == "waiting":
                current[1] = "active"
                touched[cid] = current
            if current[2] < bucket:
                current[2] = bucket
                touched[cid] = current
            ids: list[bytes] = []
            slots: list[int] = []
            for slot, envelope in envelopes:
                message_id = random[used : used + 16]
                used += 16
                ids.append(message_id)
                slots.append(slot)
                inserts.append((message_id, cid, slot, envelope, bucket))
            results.append(Sent(current[0], ids, slots))
        if inserts:
            _insert_messages(conn, inserts)
        for cid, c in touched.items():
            _rowcount(conn, _TOUCH, {"cid": cid, "state": c[1], "active_at": c[2]})
        return results


def _refuse_send(conn: Connection, op: SendOp, program_id: bytes | None) -> ApiError | None:
    """Only what may have changed since :meth:`server.relay.Relay.prepare_send` checked
    the op (which also matched a member's token to the conversation): the conversation
    still exists, is the program's, and each invited recipient slot is held."""
    if program_id is None or (op.who.is_program and program_id != op.who.program_id):
        return ApiError("unknown_conversation", "No open conversation has this id.")
    for slot, _ in op.envelopes:
        if slot > PROGRAM_SLOT and (
            _fetch_one(conn, _MEMBER_SLOT, {"cid": op.conversation_id, "slot": slot}) is None
        ):
            return ApiError("wrong_slot", "An envelope is addressed to a slot nobody holds.")
    return None


@dataclass(frozen=True, slots=True)
class AckOp(Coalesced):
    """Delete the caller's own messages among ``message_ids``; the result is how many.
    Runs before the sends of its segment (``rank``, see :class:`server.writer.Coalesced`)."""

    rank = -1
    who: Principal
    message_ids: Sequence[bytes]

    @classmethod
    def run_many(cls, conn: Connection, ops: list[AckOp], memo: dict[str, Any]) -> list[int]:
        counts = []
        for op in ops:
            who = op.who
            if who.is_program:
                count = _delete_acked(conn, _ACK_PROGRAM, op.message_ids, pid=who.program_id)
            else:
                count = _delete_acked(
                    conn, _ACK_MEMBER, op.message_ids, cid=who.conversation_id, slot=who.slot
                )
            counts.append(count)
        return counts


def pending(conn: Connection, who: Principal, limit: int, after: int = 0) -> list[StoredMessage]:
    """The caller's undelivered messages in order, a page of ``limit`` after seq ``after``."""
    query = (
        select(
            messages_t.c.message_id,
            messages_t.c.conversation_id,
            messages_t.c.envelope,
            messages_t.c.seq,
        )
        .where(messages_t.c.seq > after)
        .order_by(messages_t.c.seq)
    )
    if who.is_program:
        query = query.join(
            conversations_t, conversations_t.c.conversation_id == messages_t.c.conversation_id
        ).where(
            conversations_t.c.program_id == who.program_id,
            messages_t.c.recipient_slot == PROGRAM_SLOT,
            # a conversation whose participant never came back is not the program's yet
            conversations_t.c.confirm_by.is_(None),
        )
    else:
        query = query.where(
            messages_t.c.conversation_id == who.conversation_id,
            messages_t.c.recipient_slot == who.slot,
        )
    rows = conn.execute(query.limit(limit))
    return [StoredMessage(r[0], r[1], r[2], r[3]) for r in rows]
