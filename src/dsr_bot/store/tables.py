"""SQLAlchemy 2.0 tables. The schema's unique keys are what make intake idempotent.

Alembic migrations in `store/migrations/` must match these definitions (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
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


class JSONType(TypeDecorator[Any]):
    """JSON everywhere, stored as JSONB on PostgreSQL (indexable, compact).

    The PostgreSQL type is looked up only when that dialect is in use, so importing the
    tables (as the domain does) loads no database dialect.
    """

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


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
    # Decisions started on this row, counted and committed before each one (issue 13): a
    # message that kills the process mid-parse is quarantined instead of crash-looping.
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")


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
    # How the request reached us (Art. 12(1): any channel counts): email, phone, post,
    # in_person. A case without an e-mail address gets its letters as printable files.
    channel: Mapped[str] = mapped_column(
        sa.String(16), default="email", server_default=sa.text("'email'")
    )
    postal_address: Mapped[str | None] = mapped_column(sa.Text)
    identity_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # EDPB 01/2022 §3.3: copies of ID documents go once identity is settled or the case ends.
    id_documents_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Art. 21(3): the opt-out was put on the suppression list when the mail arrived.
    marketing_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The deadline is suspended (not restarted) while we wait for what we asked for.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_days: Mapped[int] = mapped_column(sa.Integer, default=0, server_default=sa.text("0"))
    # Someone acting for the data subject (fullmakt, guardian, other); replies go to them
    # only once their authority is verified.
    representative_kind: Mapped[str | None] = mapped_column(sa.String(32))
    representative_name: Mapped[str | None] = mapped_column(sa.String(998))
    representative_email: Mapped[str | None] = mapped_column(sa.String(320))
    representative_verified_method: Mapped[str | None] = mapped_column(sa.String(64))
    representative_verified_by: Mapped[str | None] = mapped_column(sa.String(64))
    representative_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Art. 15(4): values staff removed from the access export (other people's data).
    export_redactions: Mapped[list[str] | None] = mapped_column(JSONType)


class Letter(Base):
    """The text of every letter to a requester, kept as the record of what the controller
    said (Art. 5(2)) for `retention_letter_months` after the case ended, although the
    raw mail is purged earlier. `channel` post: a printable letter, not sent by mail."""

    __tablename__ = "letter"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("dsr_case.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    purpose: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(16))
    recipient: Mapped[str | None] = mapped_column(sa.Text)
    subject: Mapped[str | None] = mapped_column(sa.Text)
    text: Mapped[str | None] = mapped_column(sa.Text)
    html: Mapped[str | None] = mapped_column(sa.Text)
    message_id: Mapped[str | None] = mapped_column(sa.String(998))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A posted letter's attachments (the access export) until they are printed: then they
    # are written out once and removed here (Art. 5(1)(c)); e-mailed ones live in the mail.
    attachments: Mapped[list[dict[str, str]] | None] = mapped_column(JSONType)


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
    # The recipient as the per-sender limits count it (mail.address.limit_key): indexed, so
    # "acknowledgements to this sender today" is a lookup, not a scan of the day's mail.
    recipient_key: Mapped[str | None] = mapped_column(sa.String(320), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "host:pid" of the process holding the lease: a later process on the same host may take
    # back a lease whose holder is dead instead of waiting it out (issue 13).
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
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
