"""the normalised recipient of an outbox mail, indexed, for the per-sender acknowledgement
limit (issue 15)

Before, every acknowledgement read all of the last day's acknowledgements to the sender's
domain and normalised them in Python: at gmail.com scale that is quadratic in a backlog.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _limit_key(addr: str) -> str:
    """A frozen copy of mail.address.limit_key as of this revision (a migration must not
    change meaning when the code does): `Name+7@X.se` and `name@x.se` are one sender."""
    local, _, domain = addr.strip().rpartition("@")
    if not local:
        return addr.strip().lower()
    if not local.startswith('"'):
        local = local.split("+", 1)[0]
    return f"{local.lower()}@{domain.lower()}"[:320]


def upgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_key", sa.String(length=320), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbound_recipient_key"), ["recipient_key"], unique=False
        )
    outbound = sa.table(
        "outbound",
        sa.column("id", sa.Integer()),
        sa.column("recipient", sa.String()),
        sa.column("recipient_key", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(outbound.c.id, outbound.c.recipient).where(outbound.c.recipient.is_not(None))
    ).all()
    if rows:
        conn.execute(
            outbound.update()
            .where(outbound.c.id == sa.bindparam("row_id"))
            .values(recipient_key=sa.bindparam("key")),
            [{"row_id": row_id, "key": _limit_key(recipient)} for row_id, recipient in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_recipient_key"))
        batch_op.drop_column("recipient_key")
