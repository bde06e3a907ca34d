"""leader lease (fencing epoch, heartbeat) and scheduled-run claims

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 06:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leader_lease")),
    )
    # The single row every election updates; the code also inserts it if it is missing.
    op.execute("INSERT INTO leader_lease (id, epoch) VALUES (1, 0)")
    op.create_table(
        "scheduled_run",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "due_at", name=op.f("pk_scheduled_run")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_run")
    op.drop_table("leader_lease")
