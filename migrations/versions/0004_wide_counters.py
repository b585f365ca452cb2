"""messages.seq and one_time_prekeys.prekey_id: 64-bit on PostgreSQL

Revision ID: 0004
Revises: 0003

On PostgreSQL ``Integer`` is 32 bits, signed. ``messages.seq`` (a ``SERIAL``: its
sequence is 32-bit too) counts every message ever stored, so a line that stores 2.1
billion messages over its database's life would be refused every send after; a one-time
prekey's id is the protocol's u32 (e2ee), so a program node whose ids pass 2^31 had
its uploads refused. Both become ``BIGINT`` there (the sequence too). On SQLite nothing
changes: an ``INTEGER`` is stored in up to 64 bits, and ``messages.seq`` must stay an
``INTEGER PRIMARY KEY`` (the rowid).

Rewrites both tables under a lock on PostgreSQL: the message table holds only what waits
for delivery, and the prekey table a few hundred rows a program, so it is quick.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOWNGRADE_DELETES = ""
"""Undoing it deletes nothing: it narrows the two columns back to 32 bits on PostgreSQL
(which refuses, and nothing changes, while a value no longer fits)."""

COLUMNS = (("messages", "seq"), ("one_time_prekeys", "prekey_id"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
    op.execute("ALTER SEQUENCE messages_seq_seq AS BIGINT")


def downgrade() -> None:
    """Back to 32 bits; refused by PostgreSQL if a value no longer fits."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER SEQUENCE messages_seq_seq AS INTEGER")
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
