"""SQLAlchemy 2.0 tables. The schema's unique keys are what make intake idempotent.

Alembic migrations in `store/migrations/` must match these definitions (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both SQLite (which stores naive text) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class MailboxState(Base):
    """How far intake got in one IMAP folder; reset when the server changes UIDVALIDITY."""

    __tablename__ = "mailbox_state"
    mailbox: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(sa.BigInteger)
    last_uid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundMessage(Base):
    """Every message ever fetched, raw, so an auditor can see exactly what arrived."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_message_imap_key"),
    )
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    mailbox: Mapped[str] = mapped_column(sa.String(255))
    uidvalidity: Mapped[int] = mapped_column(sa.BigInteger)
    uid: Mapped[int] = mapped_column(sa.BigInteger)
    message_id: Mapped[str | None] = mapped_column(sa.String(998), index=True)
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    raw_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    truncated: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sender: Mapped[str | None] = mapped_column(sa.String(320), index=True)
    sender_name: Mapped[str | None] = mapped_column(sa.String(998))
    subject: Mapped[str | None] = mapped_column(sa.Text)
    language: Mapped[str | None] = mapped_column(sa.String(8))
    labels: Mapped[list[str] | None] = mapped_column(JSONType)
    scores: Mapped[dict[str, float] | None] = mapped_column(JSONType)
    disposition: Mapped[str | None] = mapped_column(sa.String(32))
    disposition_reason: Mapped[str | None] = mapped_column(sa.Text)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dsr_case.id"), index=True)
    duplicate_of: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Moved/flagged on the IMAP server; false means the next cycle retries that step.
    imap_done: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Case(Base):
    __tablename__ = "dsr_case"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(sa.String(32), unique=True)
    types: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    requester_email: Mapped[str | None] = mapped_column(sa.String(320), index=True)
    requester_name: Mapped[str | None] = mapped_column(sa.String(998))
    language: Mapped[str] = mapped_column(sa.String(8))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_on: Mapped[date] = mapped_column(sa.Date)
    extended_due_on: Mapped[date | None] = mapped_column(sa.Date)
    extension_reason: Mapped[str | None] = mapped_column(sa.Text)
    identity_status: Mapped[str] = mapped_column(sa.String(32))
    identity_method: Mapped[str | None] = mapped_column(sa.String(64))
    identity_verified_by: Mapped[str | None] = mapped_column(sa.String(64))
    assignee: Mapped[str | None] = mapped_column(sa.String(64))
    scores: Mapped[dict[str, float] | None] = mapped_column(JSONType)
    request_message_id: Mapped[str | None] = mapped_column(sa.String(998))
    request_references: Mapped[list[str] | None] = mapped_column(JSONType)
    request_subject: Mapped[str | None] = mapped_column(sa.Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slack_channel: Mapped[str | None] = mapped_column(sa.String(32))
    slack_ts: Mapped[str | None] = mapped_column(sa.String(32))
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseCounter(Base):
    """Per-year sequence for human references (DSR-2026-0042); locked row per allocation."""

    __tablename__ = "case_counter"
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(sa.Integer)


class Event(Base):
    """Append-only audit trail: who did what, when. Written in the same transaction."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dsr_case.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Outbound(Base):
    """The outbox: everything that leaves the process, written with the change that caused it.

    `idempotency_key` is unique, so enqueueing the same effect twice is a no-op.
    """

    __tablename__ = "outbound"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dsr_case.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    purpose: Mapped[str] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    recipient: Mapped[str | None] = mapped_column(sa.String(320), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    external_id: Mapped[str | None] = mapped_column(sa.String(998))


class Suppression(Base):
    """Marketing opt-outs (Art. 21(3)); kept after retention purges, since they honour one."""

    __tablename__ = "suppression"
    email_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(320))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dsr_case.id"))


class Reminder(Base):
    """A deadline reminder that was sent; the unique key makes each one happen once."""

    __tablename__ = "reminder"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dsr_case.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffAction(Base):
    """One staff interaction (Slack click or view submission), keyed so a retry is a no-op."""

    __tablename__ = "staff_action"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dsr_case.id"), index=True)
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeaderLease(Base):
    """The one row (`id` 1) naming the instance that leads, for fencing (see leader.py).

    `epoch` grows by one at every election; the leader's transactions lock it `FOR KEY SHARE`
    and refuse to write when it is not theirs, so a leader that was replaced cannot write.
    `renewed_at` is the leader's heartbeat (database time): standbys and `/readyz` read it
    to tell "another instance leads" from "nobody leads".
    """

    __tablename__ = "leader_lease"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    holder: Mapped[str | None] = mapped_column(sa.String(255))
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScheduledRun(Base):
    """A scheduled job's claim on one due time: the primary key makes each run happen once,
    across instances and restarts, whatever the job store believes."""

    __tablename__ = "scheduled_run"
    job_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    epoch: Mapped[int] = mapped_column(sa.BigInteger)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
