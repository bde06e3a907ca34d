"""letters kept, request channels, representatives, identity documents, deadline pause

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _case_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(
            "channel", sa.String(length=16), server_default=sa.text("'email'"), nullable=False
        ),
        sa.Column("postal_address", sa.Text(), nullable=True),
        sa.Column("identity_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id_documents_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("marketing_stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_days", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("representative_kind", sa.String(length=32), nullable=True),
        sa.Column("representative_name", sa.String(length=998), nullable=True),
        sa.Column("representative_email", sa.String(length=320), nullable=True),
        sa.Column("representative_verified_method", sa.String(length=64), nullable=True),
        sa.Column("representative_verified_by", sa.String(length=64), nullable=True),
        sa.Column("representative_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "export_redactions",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
    ]


def upgrade() -> None:
    with op.batch_alter_table("dsr_case", schema=None) as batch_op:
        for column in _case_columns():
            batch_op.add_column(column)

    op.create_table(
        "letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["dsr_case.id"], name=op.f("fk_letter_case_id_dsr_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
        sa.UniqueConstraint("key", name=op.f("uq_letter_key")),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_letter_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_created_at"))
        batch_op.drop_index(batch_op.f("ix_letter_case_id"))
    op.drop_table("letter")
    with op.batch_alter_table("dsr_case", schema=None) as batch_op:
        for column in reversed(_case_columns()):
            batch_op.drop_column(column.name)
