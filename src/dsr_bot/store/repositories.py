"""The reads the rest of the program makes, as named queries over the caller's session.

Callers say what they want to know ("the case with this reference", "the outbox backlog by
kind"); how it is asked in SQL lives here, next to the tables, so an index or a schema change
has one place to look. Domain vocabularies (which statuses count as open, which outbox
statuses are waiting) are passed in: the store sits below the domain and knows no rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsr_bot.store.tables import (
    Case,
    CaseCounter,
    Event,
    InboundMessage,
    LeaderLease,
    Letter,
    Outbound,
)


# -- cases ----------------------------------------------------------------------------------
def case_by_ref(session: Session, ref: str) -> Case | None:
    return session.execute(sa.select(Case).where(Case.ref == ref)).scalar_one_or_none()


def lock_case(session: Session, case_id: int) -> None:
    """Hold the case's row for this transaction (SELECT … FOR UPDATE)."""
    session.execute(sa.select(Case.id).where(Case.id == case_id).with_for_update())


def next_counter_value(session: Session, year: int) -> int | None:
    """Increment the reference counter for `year` and return the new value (the row stays
    locked until commit); None before the year's first case."""
    return session.execute(
        sa.update(CaseCounter)
        .where(CaseCounter.year == year)
        .values(last_number=CaseCounter.last_number + 1)
        .returning(CaseCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def events_of(
    session: Session,
    *,
    actions: Iterable[str],
    case_id: int | None = None,
    inbound_id: int | None = None,
) -> list[Event]:
    """Audit events with these actions for a case or an inbound message, oldest first."""
    query = sa.select(Event).where(Event.action.in_(list(actions)))
    if case_id is not None:
        query = query.where(Event.case_id == case_id)
    if inbound_id is not None:
        query = query.where(Event.inbound_id == inbound_id)
    return list(session.execute(query.order_by(Event.id)).scalars())


def cases_in(session: Session, statuses: Iterable[str]) -> list[Case]:
    return list(session.execute(sa.select(Case).where(Case.status.in_(list(statuses)))).scalars())


def first_message_with(session: Session, case_id: int, disposition: str) -> InboundMessage | None:
    """The case's first inbound message decided as `disposition` (its request, for `case`)."""
    return session.execute(
        sa.select(InboundMessage)
        .where(InboundMessage.case_id == case_id, InboundMessage.disposition == disposition)
        .order_by(InboundMessage.id)
        .limit(1)
    ).scalar_one_or_none()


def cases_received(session: Session, start: datetime, end: datetime) -> list[Case]:
    """Cases received in [start, end), in order of receipt."""
    return list(
        session.execute(
            sa.select(Case)
            .where(Case.received_at >= start, Case.received_at < end)
            .order_by(Case.received_at, Case.id)
        ).scalars()
    )


def events_of_cases(session: Session, case_ids: Sequence[int], action: str) -> list[Event]:
    """The `action` events of these cases, oldest first."""
    if not case_ids:
        return []
    return list(
        session.execute(
            sa.select(Event)
            .where(Event.case_id.in_(list(case_ids)), Event.action == action)
            .order_by(Event.at, Event.id)
        ).scalars()
    )


def letters_written(
    session: Session, start: datetime, end: datetime
) -> list[tuple[Letter, str, str | None, datetime | None]]:
    """Letters written in [start, end) with their case's reference and, for mail, the outbox
    status and when it was sent."""
    return [
        (letter, ref, status, sent_at)
        for letter, ref, status, sent_at in session.execute(
            sa.select(Letter, Case.ref, Outbound.status, Outbound.sent_at)
            .join(Case, Case.id == Letter.case_id)
            .outerjoin(Outbound, Outbound.idempotency_key == Letter.key)
            .where(Letter.created_at >= start, Letter.created_at < end)
            .order_by(Letter.created_at, Letter.id)
        ).all()
    ]


def all_cases(session: Session) -> list[Case]:
    return list(session.execute(sa.select(Case).order_by(Case.id)).scalars())


def case_events(session: Session, case_id: int) -> list[Event]:
    """A case's audit trail, oldest first."""
    return list(
        session.execute(
            sa.select(Event).where(Event.case_id == case_id).order_by(Event.at, Event.id)
        ).scalars()
    )


def case_deadlines(
    session: Session, statuses: Iterable[str]
) -> list[tuple[str, str, date, date | None]]:
    """(ref, status, due_on, extended_due_on) of every case in `statuses`."""
    return [
        (ref, status, due, extended)
        for ref, status, due, extended in session.execute(
            sa.select(Case.ref, Case.status, Case.due_on, Case.extended_due_on).where(
                Case.status.in_(list(statuses))
            )
        ).all()
    ]


def count_overdue(session: Session, statuses: Iterable[str], today: date) -> int:
    """Cases in `statuses` whose (extended) due date is before `today`."""
    due = sa.func.coalesce(Case.extended_due_on, Case.due_on)
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(Case)
            .where(Case.status.in_(list(statuses)), due < today)
        ).scalar_one()
    )


# -- inbound mail ---------------------------------------------------------------------------
def stored_messages_of_case(session: Session, case_id: int) -> list[InboundMessage]:
    """The case's inbound messages whose raw bytes are still stored."""
    return list(
        session.execute(
            sa.select(InboundMessage).where(
                InboundMessage.case_id == case_id, InboundMessage.raw.is_not(None)
            )
        ).scalars()
    )


def decided_copies(
    session: Session, sha256s: Sequence[str], message_ids: Sequence[str]
) -> list[InboundMessage]:
    """Decided messages with any of these digests or Message-IDs, oldest first: a batch's
    candidates for an earlier copy (intake/steps.BatchMemo compares senders), in one query."""
    same = [InboundMessage.raw_sha256.in_(sorted(set(sha256s)))]
    if message_ids:
        same.append(InboundMessage.message_id.in_(sorted(set(message_ids))))
    return list(
        session.execute(
            sa.select(InboundMessage)
            .where(InboundMessage.processed_at.is_not(None), sa.or_(*same))
            .order_by(InboundMessage.id)
        ).scalars()
    )


def messages_with_case_refs(session: Session) -> list[tuple[InboundMessage, str | None]]:
    """Every inbound message, oldest first, with the reference of its case (if any)."""
    return [
        (msg, ref)
        for msg, ref in session.execute(
            sa.select(InboundMessage, Case.ref)
            .outerjoin(Case, Case.id == InboundMessage.case_id)
            .order_by(InboundMessage.id)
        ).all()
    ]


# -- the outbox -----------------------------------------------------------------------------
def case_of_sent_mail(session: Session, message_ids: Sequence[str]) -> int | None:
    """The case of a mail we sent with one of these Message-IDs (RFC 5322 3.6.4 threading)."""
    if not message_ids:
        return None
    return session.execute(
        sa.select(Outbound.case_id)
        .where(Outbound.kind == "mail", Outbound.external_id.in_(list(message_ids)))
        .where(Outbound.case_id.is_not(None))
        .limit(1)
    ).scalar_one_or_none()


def acknowledgements_since(session: Session, since: datetime) -> int:
    """Acknowledgements queued since `since`, to anyone (the hourly cap)."""
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(Outbound)
            .where(Outbound.purpose == "acknowledgement", Outbound.created_at >= since)
        ).scalar_one()
    )


def acknowledgements_by_sender_since(
    session: Session, since: datetime, keys: Sequence[str]
) -> dict[str, int]:
    """Acknowledgements queued since `since` per normalised recipient (`recipient_key`, see
    mail.address.limit_key), for these keys only: an index lookup per key, not a scan."""
    if not keys:
        return {}
    return {
        key: int(count)
        for key, count in session.execute(
            sa.select(Outbound.recipient_key, sa.func.count())
            .where(
                Outbound.purpose == "acknowledgement",
                Outbound.created_at >= since,
                Outbound.recipient_key.in_(sorted(set(keys))),
            )
            .group_by(Outbound.recipient_key)
        ).all()
    }


def outbound_key_exists(session: Session, key: str) -> bool:
    return (
        session.execute(
            sa.select(Outbound.id).where(Outbound.idempotency_key == key)
        ).scalar_one_or_none()
        is not None
    )


def cases_with_sent(session: Session, purpose: str, status: str) -> set[int]:
    """Ids of cases that have an outbox item of `purpose` in `status`."""
    return {
        case_id
        for case_id in session.execute(
            sa.select(Outbound.case_id).where(
                Outbound.purpose == purpose, Outbound.status == status
            )
        ).scalars()
        if case_id is not None
    }


def outbound_status(session: Session, key: str) -> str | None:
    return session.execute(
        sa.select(Outbound.status).where(Outbound.idempotency_key == key)
    ).scalar_one_or_none()


def external_id_if_sent(session: Session, key: str, sent: str) -> str | None:
    """What the transport answered (Slack's ts, a Message-ID) for item `key`, once sent."""
    return session.execute(
        sa.select(Outbound.external_id)
        .where(Outbound.idempotency_key == key)
        .where(Outbound.status == sent)
    ).scalar_one_or_none()


def last_error_of(session: Session, case_id: int, purpose: str, status: str) -> str | None:
    """Why the case's `purpose` item ended in `status` (e.g. the relay's refusal)."""
    return session.execute(
        sa.select(Outbound.last_error)
        .where(Outbound.case_id == case_id, Outbound.purpose == purpose)
        .where(Outbound.status == status)
        .limit(1)
    ).scalar_one_or_none()


def outbox_items(
    session: Session, *, except_status: str | None = None
) -> list[tuple[Outbound, str | None]]:
    """Outbox items oldest first, with their case's reference; optionally leaving one status
    (e.g. sent) out."""
    query = (
        sa.select(Outbound, Case.ref)
        .outerjoin(Case, Case.id == Outbound.case_id)
        .order_by(Outbound.created_at, Outbound.id)
    )
    if except_status is not None:
        query = query.where(Outbound.status != except_status)
    return [(item, ref) for item, ref in session.execute(query).all()]


def outbox_backlog_by_kind(
    session: Session, statuses: Iterable[str]
) -> list[tuple[str, int, datetime | None]]:
    """(kind, count, oldest created_at) of items in `statuses`, per kind."""
    return [
        (kind, int(count), oldest)
        for kind, count, oldest in session.execute(
            sa.select(Outbound.kind, sa.func.count(), sa.func.min(Outbound.created_at))
            .where(Outbound.status.in_(list(statuses)))
            .group_by(Outbound.kind)
        ).all()
    ]


def outbox_count_by_kind(session: Session, status: str) -> list[tuple[str, int]]:
    return [
        (kind, int(count))
        for kind, count in session.execute(
            sa.select(Outbound.kind, sa.func.count())
            .where(Outbound.status == status)
            .group_by(Outbound.kind)
        ).all()
    ]


# -- leadership -----------------------------------------------------------------------------
def leader_lease(session: Session) -> tuple[str | None, int, datetime | None, datetime]:
    """(holder, epoch, last heartbeat, the database's clock now) of the leader lease row;
    heartbeat ages are measured on the database's clock, which every instance shares."""
    row = session.execute(
        sa.select(LeaderLease.holder, LeaderLease.epoch, LeaderLease.renewed_at)
    ).first()
    server_now = (
        session.execute(sa.text("SELECT now()")).scalar_one()
        if session.get_bind().dialect.name == "postgresql"
        else datetime.now(UTC)
    )
    holder, epoch, renewed = row if row is not None else (None, 0, None)
    return holder, int(epoch), renewed, server_now


# -- retention (jobs/retention.py decides what goes and when; this is how it is asked) -------
def _ended_before(ended: Iterable[str], before: datetime) -> Any:
    """The case is in one of the `ended` statuses and has been since before `before`."""
    last_change = (
        sa.select(sa.func.max(Event.at))
        .where(Event.case_id == Case.id, Event.action == "status_changed")
        .scalar_subquery()
    )
    ended_at = sa.func.coalesce(last_change, Case.closed_at)
    return sa.and_(Case.status.in_(sorted(ended)), ended_at < before)


def _old_message(before: datetime) -> Any:
    """A late message (a reply after the case ended) keeps its own retention clock: it is
    purged only once it is itself older than the cutoff, not the day it arrives."""
    return sa.and_(InboundMessage.purged_at.is_(None), InboundMessage.received_at < before)


def _orphans(before: datetime) -> Any:
    """Messages that never became a case: counted from receipt, as there is no closure."""
    return sa.and_(
        InboundMessage.case_id.is_(None),
        InboundMessage.processed_at.is_not(None),
        InboundMessage.received_at < before,
    )


def cases_with_raw_data(session: Session, ended: Iterable[str], before: datetime) -> list[Case]:
    """Ended cases that still hold raw mail, sent bodies or free text older than `before`."""
    unpurged_message = sa.exists().where(InboundMessage.case_id == Case.id, _old_message(before))
    unpurged_body = sa.exists().where(Outbound.case_id == Case.id, Outbound.body.is_not(None))
    return list(
        session.execute(
            sa.select(Case)
            .where(_ended_before(ended, before))
            .where(
                sa.or_(
                    unpurged_message,
                    unpurged_body,
                    Case.request_subject.is_not(None),
                    Case.extension_reason.is_not(None),
                )
            )
            .order_by(Case.id)
        ).scalars()
    )


def cases_to_anonymise(session: Session, ended: Iterable[str], before: datetime) -> list[Case]:
    return list(
        session.execute(
            sa.select(Case)
            .where(_ended_before(ended, before))
            .where(Case.anonymised_at.is_(None))
            .order_by(Case.id)
        ).scalars()
    )


def cases_with_letters(session: Session, ended: Iterable[str], before: datetime) -> list[Case]:
    """Ended cases whose kept letters still hold their text."""
    return list(
        session.execute(
            sa.select(Case)
            .where(_ended_before(ended, before))
            .where(sa.exists().where(Letter.case_id == Case.id, Letter.purged_at.is_(None)))
            .order_by(Case.id)
        ).scalars()
    )


def count_raw_messages(session: Session, case_ids: Sequence[int], before: datetime) -> int:
    """What a purge would empty: these cases' old messages, and orphans older than `before`."""
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.purged_at.is_(None))
            .where(
                sa.or_(
                    _orphans(before),
                    sa.and_(InboundMessage.case_id.in_(list(case_ids)), _old_message(before)),
                )
            )
        ).scalar_one()
    )


def _empty_messages(session: Session, where: Any, now: datetime) -> int:
    result = session.execute(
        sa.update(InboundMessage)
        .where(where, InboundMessage.purged_at.is_(None))
        .values(raw=None, sender=None, sender_name=None, subject=None, purged_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def empty_case_messages(session: Session, case_id: int, before: datetime, now: datetime) -> int:
    """Empty the case's messages older than `before` (bytes, sender, subject)."""
    return _empty_messages(
        session, sa.and_(InboundMessage.case_id == case_id, _old_message(before)), now
    )


def empty_orphan_messages(session: Session, before: datetime, now: datetime) -> int:
    return _empty_messages(session, _orphans(before), now)


def empty_sent_bodies(session: Session, case_id: int, finished: Iterable[str]) -> int:
    """Drop the composed bytes of the case's finished outbox items (never the queue)."""
    result = session.execute(
        sa.update(Outbound)
        .where(Outbound.case_id == case_id, Outbound.body.is_not(None))
        .where(Outbound.status.in_(list(finished)))
        .values(body=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def case_and_message_events(session: Session, case_id: int) -> list[Event]:
    """Every audit event of the case and of its messages."""
    inbound_ids = sa.select(InboundMessage.id).where(InboundMessage.case_id == case_id)
    return list(
        session.execute(
            sa.select(Event).where(
                sa.or_(Event.case_id == case_id, Event.inbound_id.in_(inbound_ids))
            )
        ).scalars()
    )


def forget_recipients(session: Session, case_id: int, finished: Iterable[str]) -> None:
    """The case's finished outbox items keep no address, payload or bytes."""
    session.execute(
        sa.update(Outbound)
        .where(Outbound.case_id == case_id)
        .where(Outbound.status.in_(list(finished)))
        .values(recipient=None, payload={}, body=None)
    )


def empty_letters(session: Session, case_id: int, now: datetime) -> int:
    """The kept letters' text goes; the row (purpose, channel, dates) stays as the fact."""
    result = session.execute(
        sa.update(Letter)
        .where(Letter.case_id == case_id, Letter.purged_at.is_(None))
        .values(recipient=None, subject=None, text=None, html=None, purged_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
