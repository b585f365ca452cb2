"""coarse times (created_at, active_at, expires_at, confirm_by): 64-bit on PostgreSQL

Revision ID: 0005
Revises: 0004

On PostgreSQL ``Integer`` is 32 bits, signed: a Unix time in one overflows on
19 January 2038 (2^31 seconds). Times set ahead reach it first: a one-time prekey's
expiry is the program's choice (the protocol allows up to 2^53), so a program node's
upload of a prekey valid past 2038 failed already (an internal error). Every time column
becomes ``BIGINT`` there: ``created_at`` of programs, enrollment tokens, conversations
and messages; ``active_at`` and ``confirm_by`` of conversations; ``expires_at`` of
program sessions and one-time prekeys. On SQLite nothing changes: an ``INTEGER`` is
stored in up to 64 bits.

Rewrites each of those six tables once (one ``ALTER TABLE`` per table) on PostgreSQL,
each under an exclusive lock held until the migration commits: the relay's tables hold
only what is live (programs and their few hundred prekeys, open conversations, messages
waiting for delivery), so it is quick; relays wait on the lock meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOWNGRADE_DELETES = ""
"""Undoing it deletes nothing: it narrows the times back to 32 bits on PostgreSQL
(which refuses, and nothing changes, while a time is past January 2038)."""

COLUMNS = {
    "programs": ("created_at",),
    "enrollment_tokens": ("created_at",),
    "program_sessions": ("expires_at",),
    "one_time_prekeys": ("expires_at",),
    "conversations": ("created_at", "active_at", "confirm_by"),
    "messages": ("created_at",),
}


def _alter(sql_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE {sql_type}" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _alter("BIGINT")


def downgrade() -> None:
    """Back to 32 bits; refused by PostgreSQL if a value no longer fits (a time past
    January 2038), and then nothing is changed: the downgrade is one transaction."""
    _alter("INTEGER")
