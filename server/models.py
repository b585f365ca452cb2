"""Storage models: every column says what kind of data it holds.

The kinds (``info={"kind": ...}``) are the relay's promise to an auditor. Each one is
checked against live rows by ``quietline relay audit``:

==================  =================================================================
kind                holds
==================  =================================================================
ciphertext          an envelope (docs/protocol.md); parses, and its payload looks random
public_key          a public key, or a signed prekey body (key id, X25519 key, expiry)
signature           an Ed25519 signature, 64 bytes
opaque_id           random or hashed identifiers (16 bytes), meaningless on their own
token_hash          SHA-256 of a secret token; the token itself is never stored
coarse_time         Unix seconds floored to ``resolution`` (an hour unless noted why)
counter             a non-negative integer that carries no content
enum                one of ``values``
signed_document     a program's own public notice (profile, status), signed by its
                    identity key and published so participants can read it; never
                    about a participant
web_origin          a program's website origin (scheme://host[:port]) for CORS
sealed_counter      a program node's store generation: its store id and the counter
                    sealed under a key only the node holds (the relay cannot read it),
                    signed by the program; bytes of a fixed ``size``
==================  =================================================================

Nothing here can hold an IP address, a user agent, a referrer, a precise time or any
plaintext: there is no column that could.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KINDS = frozenset(
    {
        "ciphertext",
        "public_key",
        "signature",
        "opaque_id",
        "token_hash",
        "coarse_time",
        "counter",
        "enum",
        "signed_document",
        "web_origin",
        "sealed_counter",
    }
)

HOUR = 3600
MINUTE = 60
GENERATION_SIZE = 52
"""A sealed generation: store id (16), nonce (12), AES-GCM of the counter (8 + 16)."""

WIDE_INTEGER = BigInteger().with_variant(Integer(), "sqlite")
"""A counter or a Unix time, either of which may pass 2^31 (a time does in January 2038):
``BIGINT`` on PostgreSQL (whose ``INTEGER`` is 32 bits); ``INTEGER`` on SQLite, which
stores up to 64 bits in it and needs that name for an ``INTEGER PRIMARY KEY`` (the
rowid). Migrations 0004 (counters) and 0005 (times)."""

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def kind(name: str, **extra: Any) -> dict[str, Any]:
    """The ``info`` of a column; refuses an unknown kind at import time."""
    if name not in KINDS:
        raise ValueError(f"unknown column kind {name!r}")
    return {"kind": name, **extra}


def opaque_id() -> dict[str, Any]:
    return kind("opaque_id", size=16)


def hour_time(why: str = "") -> dict[str, Any]:
    return kind("coarse_time", resolution=HOUR, why=why)


class Program(Base):
    __tablename__ = "programs"

    program_id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True, info=opaque_id())
    identity_key: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, info=kind("public_key", size=32, algorithm="ed25519")
    )
    signed_prekey_body: Mapped[bytes | None] = mapped_column(
        LargeBinary(44), info=kind("public_key", size=44, label="signed-prekey")
    )
    signed_prekey_signature: Mapped[bytes | None] = mapped_column(
        LargeBinary(64), info=kind("signature", size=64, signs="signed_prekey_body")
    )
    profile_body: Mapped[bytes | None] = mapped_column(
        LargeBinary, info=kind("signed_document", label="profile")
    )
    profile_signature: Mapped[bytes | None] = mapped_column(
        LargeBinary(64), info=kind("signature", size=64, signs="profile_body")
    )
    status_body: Mapped[bytes | None] = mapped_column(
        LargeBinary, info=kind("signed_document", label="status")
    )
    status_signature: Mapped[bytes | None] = mapped_column(
        LargeBinary(64), info=kind("signature", size=64, signs="status_body")
    )
    created_at: Mapped[int] = mapped_column(WIDE_INTEGER, info=hour_time())


class ProgramOrigin(Base):
    __tablename__ = "program_origins"

    program_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("programs.program_id", ondelete="CASCADE"),
        primary_key=True,
        info=opaque_id(),
    )
    origin: Mapped[str] = mapped_column(String(255), primary_key=True, info=kind("web_origin"))


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    token_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), primary_key=True, info=kind("token_hash", size=32)
    )
    state: Mapped[str] = mapped_column(String(8), info=kind("enum", values=("unused", "used")))
    created_at: Mapped[int] = mapped_column(WIDE_INTEGER, info=hour_time())


class ProgramSession(Base):
    __tablename__ = "program_sessions"

    token_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), primary_key=True, info=kind("token_hash", size=32)
    )
    program_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("programs.program_id", ondelete="CASCADE"),
        index=True,
        info=opaque_id(),
    )
    expires_at: Mapped[int] = mapped_column(
        WIDE_INTEGER,
        info=kind(
            "coarse_time",
            resolution=MINUTE,
            why="a session lives one hour; an hour bucket would double its life",
        ),
    )


class OneTimePrekey(Base):
    __tablename__ = "one_time_prekeys"

    program_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("programs.program_id", ondelete="CASCADE"),
        primary_key=True,
        info=opaque_id(),
    )
    prekey_id: Mapped[int] = mapped_column(WIDE_INTEGER, primary_key=True, info=kind("counter"))
    body: Mapped[bytes] = mapped_column(
        LargeBinary(44), info=kind("public_key", size=44, label="one-time-prekey")
    )
    signature: Mapped[bytes] = mapped_column(
        LargeBinary(64), info=kind("signature", size=64, signs="body")
    )
    expires_at: Mapped[int] = mapped_column(
        WIDE_INTEGER, info=hour_time("the body's expiry rounded up to the hour, for the sweeper")
    )


class ProgramGeneration(Base):
    """The newest store generation a program node published (docs/threat-model.md,
    rollback): opaque to the relay, signed by the program, one row per program."""

    __tablename__ = "program_generations"

    program_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("programs.program_id", ondelete="CASCADE"),
        primary_key=True,
        info=opaque_id(),
    )
    body: Mapped[bytes] = mapped_column(
        LargeBinary(GENERATION_SIZE),
        info=kind("sealed_counter", size=GENERATION_SIZE, label="generation"),
    )
    signature: Mapped[bytes] = mapped_column(
        LargeBinary(64), info=kind("signature", size=64, signs="body")
    )


class Conversation(Base):
    __tablename__ = "conversations"

    conversation_id: Mapped[bytes] = mapped_column(
        LargeBinary(16), primary_key=True, info=opaque_id()
    )
    program_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("programs.program_id", ondelete="CASCADE"),
        index=True,
        info=opaque_id(),
    )
    state: Mapped[str] = mapped_column(String(8), info=kind("enum", values=("waiting", "active")))
    created_at: Mapped[int] = mapped_column(WIDE_INTEGER, info=hour_time("for the waiting TTL"))
    active_at: Mapped[int] = mapped_column(
        WIDE_INTEGER, info=hour_time("hour of the last send, for the idle TTL")
    )
    confirm_by: Mapped[int | None] = mapped_column(
        WIDE_INTEGER,
        nullable=True,
        info=kind(
            "coarse_time",
            resolution=MINUTE,
            why="a conversation whose participant never comes back is dropped minutes "
            "after it opens (an hour would keep a script's junk an hour); null once its "
            "participant used its token",
        ),
    )


class Member(Base):
    """Who may act in a conversation by capability token (the program acts by session)."""

    __tablename__ = "members"

    conversation_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        primary_key=True,
        info=opaque_id(),
    )
    slot: Mapped[int] = mapped_column(
        Integer, primary_key=True, info=kind("enum", values=(0, 2, 3, 4, 5, 6, 7))
    )
    token_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, info=kind("token_hash", size=32)
    )


class Message(Base):
    """One envelope for one recipient; deleted when that recipient acks it."""

    __tablename__ = "messages"

    seq: Mapped[int] = mapped_column(WIDE_INTEGER, primary_key=True, info=kind("counter"))
    message_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True, info=opaque_id())
    conversation_id: Mapped[bytes] = mapped_column(
        LargeBinary(16),
        ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        info=opaque_id(),
    )
    recipient_slot: Mapped[int] = mapped_column(Integer, info=kind("enum", values=tuple(range(8))))
    envelope: Mapped[bytes] = mapped_column(LargeBinary, info=kind("ciphertext"))
    created_at: Mapped[int] = mapped_column(WIDE_INTEGER, info=hour_time("for the undelivered TTL"))

    __table_args__ = (Index(None, "conversation_id", "recipient_slot", "seq"),)


def hour_bucket(unix: int) -> int:
    return unix - unix % HOUR


def minute_ceiling(unix: int) -> int:
    return unix - unix % MINUTE + (MINUTE if unix % MINUTE else 0)


def hour_ceiling(unix: int) -> int:
    return unix - unix % HOUR + (HOUR if unix % HOUR else 0)
