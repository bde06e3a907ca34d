"""Gallring: delete what we no longer need, in two steps after a case has ended.

GDPR Art. 5(1)(c) and (e) (data minimisation, storage limitation): the raw e-mails and the
free text of an ended case are needed for a while (a complaint to IMY, a follow-up question),
the fact that a request was handled on time for longer (Art. 5(2) accountability), the
requester's identity not at all once that period is over.

A case has ended when its status is terminal: answered, rejected or closed. Staff often
never click Close after the reply has gone, so waiting for "closed" alone would keep raw
mail and identity for ever. The periods run from the case's last status change (its last
`status_changed` event, else `closed_at`), so reopening an answered case restarts them.

1. `retention_raw_months` (default 12) after the end: raw messages, their sender and
   subject, sent mail bodies and the case's free text go; the messages' `purged_at` is set.
   Messages that never became a case (spam, out-of-office) go the same time after receipt.
2. `retention_anonymise_months` (default 36) after that: the requester's address and name
   are removed from the case and every trace of them from the audit trail's details; the
   case skeleton (reference, types, dates, status) and the trail's who-did-what-when stay.

3. `retention_letter_months` (default 60, IMY's five-year window) after the end: the kept
   text of the letters sent (`letter`, the controller's record of what it told the
   requester, Art. 5(2)) goes; until then it outlives the raw mail and the anonymisation.

Marketing suppression entries are never purged: they exist to honour an opt-out
(Art. 21(3)), and forgetting them would mail the person again. Each purge writes an audit
event; `dry_run` reports what would go and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import deadlines
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus
from dsr_bot.cases.service import record_event
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case

log = logging.getLogger(__name__)

# Event detail keys whose values describe the process, never the person; all others are
# replaced on anonymisation. An allowlist, because a new key must not leak by default.
SAFE_DETAIL_KEYS = frozenset(
    {
        "types",
        "due_on",
        "extended_due_on",
        "language",
        "from",
        "to",
        "kind",
        "matched_by",
        "sender_matches_requester",
        "disposition",
        "old",
        "new",
        "messages",
        "outbound",
        "events",
        "channel",
        "purpose",
        "letter",
        "letters",
        "attachments",
        "paused_days",
    }
)
REMOVED = "[removed]"
ENDED_STATUSES = frozenset(s.value for s in CaseStatus if s not in OPEN_STATUSES)
# Outbox items whose bytes are a copy of what went (or never will): never the queue.
FINISHED = ("sent", "dead")


@dataclass(frozen=True)
class RetentionPolicy:
    raw_months: int = 12
    anonymise_months: int = 36
    timezone: str = deadlines.DEFAULT_TZ
    letter_months: int = 60

    @classmethod
    def from_settings(cls, settings: Any) -> RetentionPolicy:
        return cls(
            raw_months=settings.retention_raw_months,
            anonymise_months=settings.retention_anonymise_months,
            timezone=settings.timezone,
            letter_months=settings.retention_letter_months,
        )


@dataclass
class PurgeReport:
    dry_run: bool
    raw_cases: list[str] = field(default_factory=list)  # refs whose raw data went
    raw_messages: int = 0  # inbound messages purged (with or without a case)
    anonymised_cases: list[str] = field(default_factory=list)
    letter_cases: list[str] = field(default_factory=list)  # refs whose kept letters went

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "raw_cases": self.raw_cases,
            "raw_messages": self.raw_messages,
            "anonymised_cases": self.anonymised_cases,
            "letter_cases": self.letter_cases,
        }


def cutoff(today: date, months: int, tz: str) -> datetime:
    """The instant before which a case's end is at least `months` old on `today`.

    A case ended on day D is due on the day D + months (Reg. 1182/71 Art. 3(2)(c) style, so
    31 Aug + 6 months = 28/29 Feb); the latest such D is found by stepping forward.
    """
    latest = deadlines.add_months(today, -months)
    while deadlines.add_months(latest + timedelta(days=1), months) <= today:
        latest += timedelta(days=1)
    return datetime.combine(latest + timedelta(days=1), time(0), ZoneInfo(tz))


def scrub_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if not detail:
        return detail
    return {k: v if k in SAFE_DETAIL_KEYS else REMOVED for k, v in detail.items()}


def _purge_case_raw(session: Session, case: Case, now: datetime, before: datetime) -> int:
    messages = repositories.empty_case_messages(session, case.id, before, now)
    # Sent mail is a copy of what the requester got; only finished items, never the queue.
    outbound = repositories.empty_sent_bodies(session, case.id, FINISHED)
    case.request_subject = None
    case.extension_reason = None
    record_event(
        session,
        action="retention_raw_purged",
        at=now,
        case_id=case.id,
        detail={"messages": messages, "outbound": int(outbound or 0)},
    )
    return messages


def _anonymise_case(session: Session, case: Case, now: datetime) -> None:
    events = repositories.case_and_message_events(session, case.id)
    for event in events:
        event.detail = scrub_detail(event.detail)
    repositories.forget_recipients(session, case.id, FINISHED)
    case.requester_email = None
    case.requester_name = None
    case.request_message_id = None
    case.request_references = None
    case.anonymised_at = now
    record_event(
        session,
        action="retention_anonymised",
        at=now,
        case_id=case.id,
        detail={"events": len(events)},
    )


def _purge_letters(session: Session, case: Case, now: datetime) -> None:
    """The kept letters' text goes; the row (purpose, channel, dates) stays as the fact."""
    letters = repositories.empty_letters(session, case.id, now)
    record_event(
        session,
        action="retention_letters_purged",
        at=now,
        case_id=case.id,
        detail={"letters": letters},
    )


def purge(
    factory: sessionmaker[Session], *, now: datetime, policy: RetentionPolicy, dry_run: bool = False
) -> PurgeReport:
    """One retention pass, in one transaction (all or nothing, like any other change)."""
    today = deadlines.receipt_date(now, policy.timezone)
    raw_before = cutoff(today, policy.raw_months, policy.timezone)
    anon_before = cutoff(today, policy.raw_months + policy.anonymise_months, policy.timezone)
    letters_before = cutoff(today, policy.letter_months, policy.timezone)
    report = PurgeReport(dry_run=dry_run)
    with factory() as session, session.begin():
        raw_cases = repositories.cases_with_raw_data(session, ENDED_STATUSES, raw_before)
        report.raw_cases = [c.ref for c in raw_cases]
        anon_cases = repositories.cases_to_anonymise(session, ENDED_STATUSES, anon_before)
        report.anonymised_cases = [c.ref for c in anon_cases]
        letter_cases = repositories.cases_with_letters(session, ENDED_STATUSES, letters_before)
        report.letter_cases = [c.ref for c in letter_cases]
        if dry_run:
            report.raw_messages = repositories.count_raw_messages(
                session, [c.id for c in raw_cases], raw_before
            )
            return report
        for case in raw_cases:
            report.raw_messages += _purge_case_raw(session, case, now, raw_before)
        orphaned = repositories.empty_orphan_messages(session, raw_before, now)
        if orphaned:
            record_event(
                session,
                action="retention_raw_purged",
                at=now,
                detail={"messages": orphaned, "outbound": 0},
            )
        report.raw_messages += orphaned
        for case in anon_cases:
            _anonymise_case(session, case, now)
        for case in letter_cases:
            _purge_letters(session, case, now)
    if report.raw_cases or report.anonymised_cases or report.raw_messages or report.letter_cases:
        log.info(
            "retention: raw data purged for %d case(s) and %d message(s), %d case(s) anonymised",
            len(report.raw_cases),
            report.raw_messages,
            len(report.anonymised_cases),
        )
    return report
