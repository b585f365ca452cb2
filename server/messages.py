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


@dataclass(frozen=True, slots=True)
class Sent:
    program_id: bytes
    message_ids: list[bytes]
    recipients: list[int]


# Hot-path statements as plain SQL with named parameters. On SQLite they run straight
# on the driver's cursor (sqlite3 takes :name parameters): SQLAlchemy's per-statement
# bookkeeping costs more than SQLite's own work here. Elsewhere they run through
# SQLAlchemy as text().
_CONVERSATIONS = (
    "SELECT conversation_id, program_id, state, active_at FROM conversations"
    " WHERE conversation_id IN ({})"
)
_IN_CHUNK = 500  # bound parameters per IN list (SQLite allows at least 999)
_MEMBER_SLOT = "SELECT 1 FROM members WHERE conversation_id = :cid AND slot = :slot"
_INSERT_MESSAGE = (
    "INSERT INTO messages (message_id, conversation_id, recipient_slot, envelope, created_at)"
    " VALUES (:message_id, :conversation_id, :recipient_slot, :envelope, :created_at)"
)
_TOUCH = (
    "UPDATE conversations SET state = :state, active_at = :active_at WHERE conversation_id = :cid"
)
_ACK_PROGRAM = (
    "DELETE FROM messages WHERE message_id = :mid AND recipient_slot = 1 AND EXISTS"
    " (SELECT 1 FROM conversations AS c WHERE c.conversation_id = messages.conversation_id"
    " AND c.program_id = :pid)"
)
_ACK_MEMBER = (
    "DELETE FROM messages WHERE message_id = :mid AND conversation_id = :cid"
    " AND recipient_slot = :slot"
)


def _fetch_one(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            return cursor.execute(sql, params).fetchone()
        finally:
            cursor.close()
    return conn.execute(text(sql), params).first()


def _conversations(conn: Connection, cids: list[bytes]) -> dict[bytes, list[Any]]:
    """``[program_id, state, active_at, changed]`` of each existing conversation among
    ``cids``, read with one SELECT per chunk instead of one per conversation."""
    found: dict[bytes, list[Any]] = {}
    sqlite = conn.dialect.name == "sqlite"
    for start in range(0, len(cids), _IN_CHUNK):
        chunk = cids[start : start + _IN_CHUNK]
        names = [f"c{i}" for i in range(len(chunk))]
        sql = _CONVERSATIONS.format(", ".join(":" + n for n in names))
        params = dict(zip(names, chunk, strict=True))
        if sqlite:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                rows = cursor.execute(sql, params).fetchall()
            finally:
                cursor.close()
        else:
            rows = list(conn.execute(text(sql), params))
        for row in rows:
            found[bytes(row[0])] = [row[1], row[2], row[3], False]
    return found


def _execute_many(conn: Connection, sql: str, rows: list[dict[str, Any]]) -> int:
    """Run ``sql`` once per row; returns how many rows it changed in all."""
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)
        finally:
            cursor.close()
    return int(conn.execute(text(sql), rows).rowcount)


@dataclass(frozen=True, slots=True)
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

    @classmethod
    def run_many(cls, conn: Connection, ops: list[SendOp]) -> list[Sent | ApiError]:
        state = _conversations(conn, list({op.conversation_id: None for op in ops}))
        missing = [None, None, None, False]
        results: list[Sent | ApiError] = []
        inserts: list[dict[str, Any]] = []
        for op in ops:
            cid = op.conversation_id
            current = state.get(cid, missing)
            refusal = _refuse_send(conn, op, current[0])
            if refusal is not None:
                results.append(refusal)
                continue
            bucket = hour_bucket(op.now)
            if op.who.is_program and current[1] == "waiting":
                current[1], current[3] = "active", True
            if current[2] < bucket:
                current[2], current[3] = bucket, True
            ids = [secrets.token_bytes(16) for _ in op.envelopes]
            inserts += [
                {
                    "message_id": mid,
                    "conversation_id": cid,
                    "recipient_slot": slot,
                    "envelope": env,
                    "created_at": bucket,
                }
                for mid, (slot, env) in zip(ids, op.envelopes, strict=True)
            ]
            results.append(Sent(current[0], ids, [slot for slot, _ in op.envelopes]))
        if inserts:
            _execute_many(conn, _INSERT_MESSAGE, inserts)
        touched = [
            {"cid": cid, "state": c[1], "active_at": c[2]} for cid, c in state.items() if c[3]
        ]
        if touched:
            _execute_many(conn, _TOUCH, touched)
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
    """Delete the caller's own messages among ``message_ids``; the result is how many."""

    who: Principal
    message_ids: Sequence[bytes]

    @classmethod
    def run_many(cls, conn: Connection, ops: list[AckOp]) -> list[int]:
        counts = []
        for op in ops:
            who = op.who
            if who.is_program:
                params: list[dict[str, Any]] = [
                    {"mid": m, "pid": who.program_id} for m in op.message_ids
                ]
                counts.append(_execute_many(conn, _ACK_PROGRAM, params))
            else:
                params = [
                    {"mid": m, "cid": who.conversation_id, "slot": who.slot} for m in op.message_ids
                ]
                counts.append(_execute_many(conn, _ACK_MEMBER, params))
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
        )
    else:
        query = query.where(
            messages_t.c.conversation_id == who.conversation_id,
            messages_t.c.recipient_slot == who.slot,
        )
    rows = conn.execute(query.limit(limit))
    return [StoredMessage(r[0], r[1], r[2], r[3]) for r in rows]
