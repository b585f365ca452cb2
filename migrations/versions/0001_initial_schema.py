"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrollment_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_enrollment_tokens")),
    )
    op.create_table(
        "programs",
        sa.Column("program_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("identity_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_prekey_body", sa.LargeBinary(length=44), nullable=True),
        sa.Column("signed_prekey_signature", sa.LargeBinary(length=64), nullable=True),
        sa.Column("profile_body", sa.LargeBinary(), nullable=True),
        sa.Column("profile_signature", sa.LargeBinary(length=64), nullable=True),
        sa.Column("status_body", sa.LargeBinary(), nullable=True),
        sa.Column("status_signature", sa.LargeBinary(length=64), nullable=True),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_programs")),
        sa.UniqueConstraint("identity_key", name=op.f("uq_programs_identity_key")),
    )
    op.create_table(
        "conversations",
        sa.Column("conversation_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("program_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("active_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.program_id"],
            name=op.f("fk_conversations_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations_program_id"), ["program_id"], unique=False
        )

    op.create_table(
        "one_time_prekeys",
        sa.Column("program_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("prekey_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(length=44), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.program_id"],
            name=op.f("fk_one_time_prekeys_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", "prekey_id", name=op.f("pk_one_time_prekeys")),
    )
    op.create_table(
        "program_origins",
        sa.Column("program_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.program_id"],
            name=op.f("fk_program_origins_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("program_id", "origin", name=op.f("pk_program_origins")),
    )
    op.create_table(
        "program_sessions",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("program_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.program_id"],
            name=op.f("fk_program_sessions_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_program_sessions")),
    )
    with op.batch_alter_table("program_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_program_sessions_program_id"), ["program_id"], unique=False
        )

    op.create_table(
        "members",
        sa.Column("conversation_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.conversation_id"],
            name=op.f("fk_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "slot", name=op.f("pk_members")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_members_token_hash")),
    )
    op.create_table(
        "messages",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("conversation_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("recipient_slot", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.conversation_id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_messages_message_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_conversation_id"),
            ["conversation_id", "recipient_slot", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_conversation_id"))

    op.drop_table("messages")
    op.drop_table("members")
    with op.batch_alter_table("program_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_program_sessions_program_id"))

    op.drop_table("program_sessions")
    op.drop_table("program_origins")
    op.drop_table("one_time_prekeys")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_program_id"))

    op.drop_table("conversations")
    op.drop_table("programs")
    op.drop_table("enrollment_tokens")
