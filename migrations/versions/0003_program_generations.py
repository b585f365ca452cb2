"""program_generations: a program node's newest store generation, sealed and signed

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOWNGRADE_DELETES = (
    "the program_generations table, with the sealed store generation each program node "
    "last left on the relay (until a node publishes its next one, a rolled-back keystore "
    "is checked against the node's own witness file only)"
)
"""What undoing this revision deletes (``quietline relay migrate downgrade`` says it)."""


def upgrade() -> None:
    op.create_table(
        "program_generations",
        sa.Column("program_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(length=52), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.program_id"],
            name=op.f("fk_program_generations_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_program_generations")),
    )


def downgrade() -> None:
    op.drop_table("program_generations")
