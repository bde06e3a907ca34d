"""Use cases on a case: each one checks the domain rules, changes state and writes its audit
event in the caller's transaction, so a change and its record can never be separated.

Adapters (intake, Slack, CLI) call these; these never call out to mail or Slack. Anything
that must leave the process is enqueued in the outbox by the caller in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from dsr_bot.cases import deadlines
from dsr_bot.cases.model import (
    OFFLINE_CHANNELS,
    OPEN_STATUSES,
    REPRESENTATIVE_KINDS,
    CaseStatus,
    IdentityStatus,
    RequestType,
    RuleViolation,
    check_transition,
    format_ref,
    opt_out_only,
)
from dsr_bot.cases.ports import Shredder
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case, CaseCounter, Event
from dsr_bot.store.upsert import insert_ignore

Clock = Callable[[], datetime]

SYSTEM = "system"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CasePolicy:
    """The controller's choices that affect case rules."""

    timezone: str = "Europe/Stockholm"
    country: str = "SE"
    four_eyes: bool = False
    extra_closed_days: bool = False  # Midsummer/Christmas/New Year's Eve (docs/deadlines.md)

    @classmethod
    def from_settings(cls, settings: Any) -> CasePolicy:
        return cls(
            timezone=settings.timezone,
            country=settings.holiday_country,
            four_eyes=settings.four_eyes,
            extra_closed_days=settings.deadline_extra_closed_days,
        )


def record_event(
    session: Session,
    *,
    action: str,
    at: datetime,
    actor: str = SYSTEM,
    case_id: int | None = None,
    inbound_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Event:
    event = Event(
        case_id=case_id, inbound_id=inbound_id, at=at, actor=actor, action=action, detail=detail
    )
    session.add(event)
    return event


def allocate_ref(session: Session, year: int) -> str:
    """Next `DSR-YYYY-NNNN`: one UPDATE … RETURNING, which locks the counter row (or, on
    SQLite, the database) until commit, so two instances never share a number. The year's
    row is created on its first case only (two instances creating it at once: the insert
    skips for the second)."""
    number = repositories.next_counter_value(session, year)
    if number is None:
        insert_ignore(session, CaseCounter, {"year": year, "last_number": 0})
        number = repositories.next_counter_value(session, year)
        assert number is not None
    return format_ref(year, number)


def open_case(
    session: Session,
    *,
    policy: CasePolicy,
    now: datetime,
    received_at: datetime,
    types: Sequence[RequestType],
    requester_email: str | None,
    requester_name: str | None,
    language: str,
    scores: dict[str, float] | None = None,
    request_message_id: str | None = None,
    request_references: Sequence[str] = (),
    request_subject: str | None = None,
    inbound_id: int | None = None,
    actor: str = SYSTEM,
    channel: str = "email",
    postal_address: str | None = None,
) -> Case:
    deadline = deadlines.deadline_for(
        received_at,
        tz=policy.timezone,
        country=policy.country,
        extra_closed_days=policy.extra_closed_days,
    )
    ref = allocate_ref(session, deadline.received_on.year)
    case = Case(
        ref=ref,
        types=sorted({RequestType(t).value for t in types}),
        status=CaseStatus.OPEN.value,
        requester_email=requester_email,
        requester_name=requester_name,
        language=language,
        received_at=received_at,
        due_on=deadline.due,
        identity_status=IdentityStatus.UNVERIFIED.value,
        scores=scores,
        request_message_id=request_message_id,
        request_references=list(request_references),
        request_subject=request_subject,
        opened_at=now,
        channel=channel,
        postal_address=postal_address,
    )
    session.add(case)
    session.flush()
    record_event(
        session,
        action="case_opened",
        at=now,
        actor=actor,
        case_id=case.id,
        inbound_id=inbound_id,
        detail={
            "types": case.types,
            "due_on": case.due_on.isoformat(),
            "language": language,
            "channel": channel,
        },
    )
    return case


@dataclass(frozen=True)
class Representative:
    kind: str
    name: str
    email: str | None = None


@dataclass(frozen=True)
class OfflineRequest:
    """A request taken by phone, by letter or at the desk, as staff write it down."""

    channel: str
    received_at: datetime
    types: Sequence[str]
    name: str
    email: str | None = None
    postal_address: str | None = None
    language: str = "sv"
    representative: Representative | None = None


def register_request(
    session: Session, request: OfflineRequest, *, policy: CasePolicy, now: datetime, actor: str
) -> Case:
    """Open a case for a request that did not come by e-mail. Its receipt time, not the
    time staff typed it in, starts the month (Art. 12(3))."""
    if request.channel not in OFFLINE_CHANNELS:
        raise RuleViolation(
            f"Channel must be one of {', '.join(OFFLINE_CHANNELS)} (e-mail arrives by itself)."
        )
    if request.received_at.tzinfo is None:
        raise RuleViolation("The receipt time needs a time zone, e.g. 2026-11-24T10:15+01:00.")
    if request.received_at > now:
        raise RuleViolation("The request cannot have been received in the future.")
    try:
        types = sorted({RequestType(t).value for t in request.types})
    except ValueError:
        raise RuleViolation(f"Unknown request type among {list(request.types)}.") from None
    if not types:
        raise RuleViolation("Name at least one request type.")
    name = " ".join(request.name.split())
    if not name:
        raise RuleViolation("The data subject's name is needed.")
    email = bare_address(request.email)
    address = (request.postal_address or "").strip() or None
    rep = request.representative
    if rep is not None:
        if rep.kind not in REPRESENTATIVE_KINDS:
            raise RuleViolation(f"Representative kind must be one of {REPRESENTATIVE_KINDS}.")
        if not " ".join(rep.name.split()):
            raise RuleViolation("The representative's name is needed.")
    reply_email = bare_address(rep.email) if rep is not None else email
    if reply_email is None and address is None:
        raise RuleViolation("Give an e-mail or a postal address: the reply must reach someone.")
    case = open_case(
        session,
        policy=policy,
        now=now,
        received_at=request.received_at,
        types=[RequestType(t) for t in types],
        requester_email=email,
        requester_name=name,
        language=request.language,
        actor=actor,
        channel=request.channel,
        postal_address=address,
    )
    if rep is not None:
        set_representative(
            session, case, rep.kind, rep.name, bare_address(rep.email), now=now, actor=actor
        )
    return case


def set_representative(
    session: Session,
    case: Case,
    kind: str,
    name: str,
    email: str | None,
    *,
    now: datetime,
    actor: str,
) -> None:
    """Record who acts for the data subject. Their authority is unverified until staff
    check the fullmakt or the guardianship (`verify_representative`)."""
    if kind not in REPRESENTATIVE_KINDS:
        raise RuleViolation(f"Representative kind must be one of {REPRESENTATIVE_KINDS}.")
    case.representative_kind = kind
    case.representative_name = " ".join(name.split())
    case.representative_email = email
    case.representative_verified_method = None
    case.representative_verified_by = None
    case.representative_verified_at = None
    record_event(
        session,
        action="representative_recorded",
        at=now,
        actor=actor,
        case_id=case.id,
        detail={"kind": kind, "email": email},
    )


def bare_address(value: str | None) -> str | None:
    """A trimmed, lower-cased e-mail address, None for blank; RuleViolation if it is not one."""
    value = (value or "").strip()
    if not value:
        return None
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise RuleViolation(f"{value!r} is not an e-mail address.")
    return value.lower()


def attach_reply(
    session: Session,
    case: Case,
    *,
    now: datetime,
    inbound_id: int,
    matched_by: str,
    sender_matches: bool,
) -> None:
    """The requester wrote again on an open case: no new case, no new acknowledgement."""
    record_event(
        session,
        action="requester_replied",
        at=now,
        case_id=case.id,
        inbound_id=inbound_id,
        detail={"matched_by": matched_by, "sender_matches_requester": sender_matches},
    )


def get_case(session: Session, ref: str) -> Case:
    case = repositories.case_by_ref(session, ref)
    if case is None:
        raise RuleViolation(f"No case {ref}.")
    return case


def change_status(
    session: Session,
    case: Case,
    target: CaseStatus,
    *,
    now: datetime,
    actor: str,
    detail: dict[str, Any] | None = None,
    shred: Shredder | None = None,
) -> None:
    """Move the case to `target` (audited). When the case ends, the requester's identity
    documents go too, if the caller can `shred` them (see delete_identity_documents)."""
    check_transition(CaseStatus(case.status), target)
    previous = case.status
    case.status = target.value
    if target in (CaseStatus.CLOSED,):
        case.closed_at = now
    record_event(
        session,
        action="status_changed",
        at=now,
        actor=actor,
        case_id=case.id,
        detail={"from": previous, "to": target.value, **(detail or {})},
    )
    if target not in OPEN_STATUSES:
        case.paused_at = None  # nothing left to wait for
        if shred is not None:
            delete_identity_documents(
                session, case, now=now, actor=actor, reason="case_ended", shred=shred
            )


def delete_identity_documents(
    session: Session, case: Case, *, now: datetime, actor: str, reason: str, shred: Shredder
) -> int:
    """EDPB 01/2022 §3.3: proof of identity is for checking, not for keeping. Once the
    identity is verified or the case has ended, every attachment the requester sent on the
    case is removed from the stored mail (the text stays); the audit trail keeps the method,
    who verified and when. Returns the number of attachments removed (0 is not recorded)."""
    removed = touched = 0
    for message in repositories.stored_messages_of_case(session, case.id):
        stripped, count = shred(message.raw or b"")
        if count:
            message.raw = stripped
            removed += count
            touched += 1
    if removed:
        case.id_documents_deleted_at = now
        record_event(
            session,
            action="identity_documents_deleted",
            at=now,
            actor=actor,
            case_id=case.id,
            detail={"messages": touched, "attachments": removed, "reason": reason},
        )
    return removed


def extend_deadline(
    session: Session,
    case: Case,
    *,
    policy: CasePolicy,
    now: datetime,
    actor: str,
    reason: str,
) -> None:
    """Art. 12(3): two further months, with reasons, decided within the first month."""
    if not reason.strip():
        raise RuleViolation("An extension needs a reason (Art. 12(3)).")
    if opt_out_only(case.types):
        raise RuleViolation(
            f"{case.ref} is a marketing opt-out: it is honoured at once (Art. 21(3)) and "
            "cannot be extended."
        )
    if case.extended_due_on is not None:
        raise RuleViolation(f"{case.ref} is already extended to {case.extended_due_on}.")
    if CaseStatus(case.status) not in OPEN_STATUSES:
        raise RuleViolation(f"{case.ref} is {case.status}; only an open case can be extended.")
    # A pause moved `due_on` (resume_deadline): the first month ends there, and the
    # extended period moves by the same days of suspension.
    shift = case.paused_days or 0
    if deadlines.receipt_date(now, policy.timezone) > case.due_on:
        raise RuleViolation(
            f"The first month for {case.ref} ended on {case.due_on}; it can no longer be extended."
        )
    extended = deadlines.due_date(
        case.received_at,
        tz=policy.timezone,
        country=policy.country,
        extended=True,
        extra_closed_days=policy.extra_closed_days,
    )
    if shift:
        extended = deadlines.next_working_day(
            extended + timedelta(days=shift),
            policy.country,
            extra_closed_days=policy.extra_closed_days,
        )
    case.extended_due_on = extended
    case.extension_reason = reason.strip()
    record_event(
        session,
        action="deadline_extended",
        at=now,
        actor=actor,
        case_id=case.id,
        detail={"extended_due_on": case.extended_due_on.isoformat(), "reason": reason.strip()},
    )


def pause_deadline(session: Session, case: Case, *, now: datetime, actor: str) -> None:
    """Suspend the Art. 12(3) period while we wait for proof of identity that the request
    cannot be handled without (Art. 12(6); EDPB 01/2022 §3.3, para. 75): the days already
    run stay run. `resume_deadline` moves the due dates on by the days it was paused."""
    if case.paused_at is not None:
        raise RuleViolation(f"{case.ref}: the deadline is already paused.")
    case.paused_at = now
    record_event(session, action="deadline_paused", at=now, actor=actor, case_id=case.id)


def resume_deadline(
    session: Session, case: Case, *, policy: CasePolicy, now: datetime, actor: str
) -> int:
    """End a pause: a suspension, not a restart. The due date moves by the calendar days
    paused (counted as dates in the controller's zone, so a pause within one day moves
    nothing), then to a working day (Reg. 1182/71 Art. 3(4)). Returns the days added."""
    if case.paused_at is None:
        return 0
    days = (
        deadlines.receipt_date(now, policy.timezone)
        - deadlines.receipt_date(case.paused_at, policy.timezone)
    ).days
    case.paused_at = None
    case.paused_days = (case.paused_days or 0) + max(days, 0)
    if days > 0:

        def moved(day: Any) -> Any:
            return deadlines.next_working_day(
                day + timedelta(days=days),
                policy.country,
                extra_closed_days=policy.extra_closed_days,
            )

        case.due_on = moved(case.due_on)
        if case.extended_due_on is not None:
            case.extended_due_on = moved(case.extended_due_on)
    record_event(
        session,
        action="deadline_resumed",
        at=now,
        actor=actor,
        case_id=case.id,
        detail={"paused_days": days, "due_on": case.due_on.isoformat()},
    )
    return days


def effective_due(case: Case) -> Any:
    return case.extended_due_on or case.due_on
