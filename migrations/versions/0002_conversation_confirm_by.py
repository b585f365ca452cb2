"""conversations: confirm_by, the minute an unconfirmed conversation is dropped

Revision ID: 0002
Revises: 0001

A conversation whose participant never came back with its token (likely a script's
junk init) was known only in the relay's memory: after a restart it counted as waiting
and lived the 12-hour TTL. ``confirm_by`` (a minute, null once confirmed) makes it last.
Rows that exist at upgrade time are taken as confirmed (null).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOWNGRADE_DELETES = (
    "each conversation's confirm_by: a conversation whose participant never came back "
    "then counts as confirmed and waits its full time to live"
)
"""What undoing this revision deletes (``quietline relay migrate downgrade`` says it)."""


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("confirm_by")
