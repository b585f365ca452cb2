"""Storage functions: each takes a connection and does one thing.

Programs, prekeys, conversations, closing and the TTL sweep live here; the message hot
path (send, ack, pending) lives in :mod:`server.messages`.

Reads run on any connection; writes are ops for :class:`server.writer.Writer` (they take
the writer's connection inside its batch transaction). A write op checks everything it
needs before its first write and raises :class:`~server.errors.ApiError` on a refusal,
so a refused op has written nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from server.errors import ApiError
from server.models import (
    Conversation,
    EnrollmentToken,
    Member,
    Message,
    OneTimePrekey,
    Program,
    ProgramGeneration,
    ProgramOrigin,
    ProgramSession,
    hour_bucket,
)

programs = cast(Table, Program.__table__)
origins_t = cast(Table, ProgramOrigin.__table__)
tokens_t = cast(Table, EnrollmentToken.__table__)
sessions_t = cast(Table, ProgramSession.__table__)
otp_t = cast(Table, OneTimePrekey.__table__)
conversations_t = cast(Table, Conversation.__table__)
members_t = cast(Table, Member.__table__)
messages_t = cast(Table, Message.__table__)
generations_t = cast(Table, ProgramGeneration.__table__)

PARTICIPANT_SLOT = 0
PROGRAM_SLOT = 1


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a program (by session) or a member of one conversation (by token)."""

    program_id: bytes | None = None
    conversation_id: bytes | None = None
    slot: int = PROGRAM_SLOT
    conversation_key: bytes = field(default=b"", compare=False, repr=False)
    """A member's conversation's keyed hash (:meth:`server.limits.ClosedSet.key`) when the
    relay made it already (once per token, not once per send); else empty."""

    @property
    def is_program(self) -> bool:
        return self.program_id is not None


@dataclass(frozen=True, slots=True)
class Closed:
    conversation_id: bytes
    program_id: bytes
    member_slots: list[int]
    messages: int = 0
    """Undelivered messages deleted with it (counted in server.metrics)."""


# -- programs -----------------------------------------------------------------------


def add_enrollment_token(conn: Connection, token_hash: bytes, now: int) -> None:
    conn.execute(
        insert(tokens_t).values(token_hash=token_hash, state="unused", created_at=hour_bucket(now))
    )


def enroll(
    conn: Connection,
    token_hash: bytes,
    program_id: bytes,
    identity_key: bytes,
    origins: Sequence[str],
    now: int,
) -> None:
    state = (
        conn.execute(select(tokens_t.c.state).where(tokens_t.c.token_hash == token_hash))
    ).scalar_one_or_none()
    if state is None:
        raise ApiError("bad_token", "The enrollment token is not valid.")
    if state != "unused":
        raise ApiError("enrollment_used", "The enrollment token was already used.")
    exists = (
        conn.execute(select(programs.c.program_id).where(programs.c.program_id == program_id))
    ).first()
    if exists is not None:
        raise ApiError("conflict", "This identity key is already enrolled.")
    conn.execute(update(tokens_t).where(tokens_t.c.token_hash == token_hash).values(state="used"))
    conn.execute(
        insert(programs).values(
            program_id=program_id, identity_key=identity_key, created_at=hour_bucket(now)
        )
    )
    if origins:
        conn.execute(insert(origins_t), [{"program_id": program_id, "origin": o} for o in origins])


def get_program(conn: Connection, program_id: bytes) -> Any:
    return (conn.execute(select(programs).where(programs.c.program_id == program_id))).first()


def require_program(conn: Connection, program_id: bytes) -> Any:
    row = get_program(conn, program_id)
    if row is None:
        raise ApiError("unknown_program", "No program is enrolled with this id.")
    return row


def set_origins(conn: Connection, program_id: bytes, origins: Sequence[str]) -> None:
    require_program(conn, program_id)
    conn.execute(delete(origins_t).where(origins_t.c.program_id == program_id))
    if origins:
        conn.execute(insert(origins_t), [{"program_id": program_id, "origin": o} for o in origins])


def all_origins(conn: Connection) -> dict[bytes, set[str]]:
    result: dict[bytes, set[str]] = {}
    for pid, origin in conn.execute(select(origins_t.c.program_id, origins_t.c.origin)):
        result.setdefault(pid, set()).add(origin)
    return result


def set_program_fields(conn: Connection, program_id: bytes, **values: bytes) -> None:
    require_program(conn, program_id)
    conn.execute(update(programs).where(programs.c.program_id == program_id).values(**values))


def create_session(conn: Connection, token_hash: bytes, program_id: bytes, expires_at: int) -> None:
    require_program(conn, program_id)
    conn.execute(
        insert(sessions_t).values(
            token_hash=token_hash, program_id=program_id, expires_at=expires_at
        )
    )


def lookup_session(conn: Connection, token_hash: bytes) -> tuple[bytes, int] | None:
    row = (
        conn.execute(
            select(sessions_t.c.program_id, sessions_t.c.expires_at).where(
                sessions_t.c.token_hash == token_hash
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


def set_generation(conn: Connection, program_id: bytes, body: bytes, signature: bytes) -> None:
    """Keep the program's newest published generation (one row, replaced)."""
    require_program(conn, program_id)
    conn.execute(delete(generations_t).where(generations_t.c.program_id == program_id))
    conn.execute(
        insert(generations_t).values(program_id=program_id, body=body, signature=signature)
    )


def get_generation(conn: Connection, program_id: bytes) -> tuple[bytes, bytes] | None:
    row = conn.execute(
        select(generations_t.c.body, generations_t.c.signature).where(
            generations_t.c.program_id == program_id
        )
    ).first()
    return None if row is None else (row[0], row[1])


# -- one-time prekeys -----------------------------------------------------------------


def add_one_time_prekeys(
    conn: Connection,
    program_id: bytes,
    rows: Sequence[dict[str, Any]],
    max_stored: int,
) -> int:
    require_program(conn, program_id)
    ids = [r["prekey_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ApiError("prekey_id_reused", "Two one-time prekeys in the batch share an id.")
    taken = (
        conn.execute(
            select(otp_t.c.prekey_id).where(
                otp_t.c.program_id == program_id, otp_t.c.prekey_id.in_(ids)
            )
        )
    ).first()
    if taken is not None:
        raise ApiError("prekey_id_reused", "A one-time prekey with this id is already stored.")
    stored = count_one_time_prekeys(conn, program_id)
    if stored + len(rows) > max_stored:
        raise ApiError("oversized", f"At most {max_stored} one-time prekeys can be stored.")
    conn.execute(insert(otp_t), [{"program_id": program_id, **r} for r in rows])
    return stored + len(rows)


def count_one_time_prekeys(conn: Connection, program_id: bytes) -> int:
    return int(
        (
            conn.execute(
                select(func.count()).select_from(otp_t).where(otp_t.c.program_id == program_id)
            )
        ).scalar_one()
    )


def take_one_time_prekey(
    conn: Connection, program_id: bytes, now: int
) -> tuple[bytes, bytes, int] | None:
    """Delete and return the program's oldest one-time prekey (body, signature, expiry).

    The caller checks the precise expiry in the body and asks again if it has passed;
    the expired key is gone either way. Run by the single writer, so no two callers
    can ever be handed the same key.
    """
    oldest = (
        select(func.min(otp_t.c.prekey_id))
        .where(otp_t.c.program_id == program_id)
        .scalar_subquery()
    )
    row = (
        conn.execute(
            delete(otp_t)
            .where(otp_t.c.program_id == program_id, otp_t.c.prekey_id == oldest)
            .returning(otp_t.c.body, otp_t.c.signature, otp_t.c.expires_at)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


# -- conversations --------------------------------------------------------------------


def create_conversation(
    conn: Connection,
    conversation_id: bytes,
    program_id: bytes,
    token_hash: bytes,
    envelope: bytes,
    now: int,
    confirm_by: int | None = None,
) -> bytes:
    """Store a new conversation, its participant's token hash and its init. Until its
    participant uses that token (:func:`confirm`), ``confirm_by`` (a minute) is set: the
    conversation is not waiting in the queue and the sweeper drops it past that minute."""
    require_program(conn, program_id)
    exists = (
        conn.execute(
            select(conversations_t.c.conversation_id).where(
                conversations_t.c.conversation_id == conversation_id
            )
        )
    ).first()
    if exists is not None:
        raise ApiError("conflict", "A conversation with this id already exists.")
    bucket = hour_bucket(now)
    conn.execute(
        insert(conversations_t).values(
            conversation_id=conversation_id,
            program_id=program_id,
            state="waiting",
            created_at=bucket,
            active_at=bucket,
            confirm_by=confirm_by,
        )
    )
    conn.execute(
        insert(members_t).values(
            conversation_id=conversation_id, slot=PARTICIPANT_SLOT, token_hash=token_hash
        )
    )
    message_id = secrets.token_bytes(16)
    conn.execute(
        insert(messages_t).values(
            message_id=message_id,
            conversation_id=conversation_id,
            recipient_slot=PROGRAM_SLOT,
            envelope=envelope,
            created_at=bucket,
        )
    )
    return message_id


def lookup_member(conn: Connection, token_hash: bytes) -> tuple[bytes, int, bool] | None:
    """The member's conversation, slot, and whether that conversation still waits for
    its participant to come back (:func:`confirm`)."""
    row = (
        conn.execute(
            select(members_t.c.conversation_id, members_t.c.slot, conversations_t.c.confirm_by)
            .join(conversations_t, conversations_t.c.conversation_id == members_t.c.conversation_id)
            .where(members_t.c.token_hash == token_hash)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2] is not None)


def confirm(
    conn: Connection, conversation_id: bytes
) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
    """The participant used its token: the conversation is real (waiting, kept, its
    init now the program's to fetch). Returns its program and the (message id,
    envelope) of what waits for the program, to push; None if it was confirmed already
    (by another relay process) or is gone."""
    done = conn.execute(
        update(conversations_t)
        .where(
            conversations_t.c.conversation_id == conversation_id,
            conversations_t.c.confirm_by.is_not(None),
        )
        .values(confirm_by=None)
        .returning(conversations_t.c.program_id)
    ).first()
    if done is None:
        return None
    rows = conn.execute(
        select(messages_t.c.message_id, messages_t.c.envelope)
        .where(
            messages_t.c.conversation_id == conversation_id,
            messages_t.c.recipient_slot == PROGRAM_SLOT,
        )
        .order_by(messages_t.c.seq)
    )
    return done[0], [(r[0], r[1]) for r in rows]


def _authorize(conn: Connection, who: Principal, conversation_id: bytes) -> Any:
    row = (
        conn.execute(
            select(
                conversations_t.c.program_id, conversations_t.c.state, conversations_t.c.active_at
            ).where(conversations_t.c.conversation_id == conversation_id)
        )
    ).first()
    if row is None:
        raise ApiError("unknown_conversation", "No open conversation has this id.")
    if who.is_program:
        if row.program_id != who.program_id:
            raise ApiError("unknown_conversation", "No open conversation has this id.")
    elif who.conversation_id != conversation_id:
        raise ApiError("bad_token", "The token is not valid for this conversation.")
    return row


def add_member(
    conn: Connection, who: Principal, conversation_id: bytes, slot: int, token_hash: bytes
) -> None:
    _authorize(conn, who, conversation_id)
    taken = (
        conn.execute(
            select(members_t.c.slot).where(
                members_t.c.conversation_id == conversation_id, members_t.c.slot == slot
            )
        )
    ).first()
    if taken is not None:
        raise ApiError("conflict", "This slot is already taken in the conversation.")
    conn.execute(
        insert(members_t).values(conversation_id=conversation_id, slot=slot, token_hash=token_hash)
    )


def close(conn: Connection, who: Principal, conversation_id: bytes) -> Closed:
    row = _authorize(conn, who, conversation_id)
    return _delete_conversation(conn, conversation_id, row.program_id)


def _delete_conversation(conn: Connection, conversation_id: bytes, program_id: bytes) -> Closed:
    slots = list(
        (
            conn.execute(
                select(members_t.c.slot).where(members_t.c.conversation_id == conversation_id)
            )
        ).scalars()
    )
    deleted = conn.execute(
        delete(messages_t).where(messages_t.c.conversation_id == conversation_id)
    ).rowcount
    conn.execute(delete(members_t).where(members_t.c.conversation_id == conversation_id))
    conn.execute(
        delete(conversations_t).where(conversations_t.c.conversation_id == conversation_id)
    )
    return Closed(conversation_id, program_id, slots, max(deleted, 0))


def queue(conn: Connection, program_id: bytes) -> tuple[list[bytes], list[bytes]]:
    """Waiting and active conversations. One whose participant never came back with its
    token (``confirm_by`` set: likely a script's junk init) is not waiting."""
    rows = conn.execute(
        select(
            conversations_t.c.conversation_id,
            conversations_t.c.state,
            conversations_t.c.confirm_by,
        )
        .where(conversations_t.c.program_id == program_id)
        .order_by(conversations_t.c.created_at, conversations_t.c.conversation_id)
    )
    waiting: list[bytes] = []
    active: list[bytes] = []
    for cid, state, confirm_by in rows:
        if state != "waiting":
            active.append(cid)
        elif confirm_by is None:
            waiting.append(cid)
    return waiting, active


# -- time to live ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ttls:
    message: int
    idle: int
    waiting: int
    enrollment: int


def sweep(conn: Connection, now: int, ttls: Ttls) -> tuple[list[Closed], int]:
    """Delete everything past its TTL. Returns the conversations deleted, to notify, and
    how many messages were deleted past their own TTL."""
    bucket = hour_bucket(now)
    stale = conn.execute(
        select(conversations_t.c.conversation_id, conversations_t.c.program_id).where(
            (conversations_t.c.active_at + ttls.idle <= bucket)
            | (
                (conversations_t.c.state == "waiting")
                & (conversations_t.c.created_at + ttls.waiting <= bucket)
            )
            | (conversations_t.c.confirm_by <= now)
        )
    )
    closed = [_delete_conversation(conn, cid, pid) for cid, pid in stale.all()]
    expired = conn.execute(
        delete(messages_t).where(messages_t.c.created_at + ttls.message <= bucket)
    ).rowcount
    conn.execute(delete(sessions_t).where(sessions_t.c.expires_at <= now))
    conn.execute(delete(otp_t).where(otp_t.c.expires_at <= now))
    conn.execute(delete(tokens_t).where(tokens_t.c.created_at + ttls.enrollment <= bucket))
    return closed, max(expired, 0)
