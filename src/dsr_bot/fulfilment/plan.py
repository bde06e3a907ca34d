"""Fulfilment for a case, across every configured source, with its audit trail.

This is what the Slack actions and the CLI call: they pass a session of dsr-bot's own
database (for the audit events) and the loaded `DataSources`; the functions here open the
customer systems, do the work, and record what happened, counts only, never values.

The audit event is written in the caller's transaction *after* the source committed, since
the two are different databases and no two-phase commit is attempted. The desk registers
it to survive a rollback of that transaction (`cases.desk.audit_surviving_rollback`), and
`erased_before` reads it back, so a retried approval still confirms what the first erased.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsr_bot.cases.model import OPEN_STATUSES, IdentityStatus, RequestType, RuleViolation
from dsr_bot.cases.service import record_event
from dsr_bot.fulfilment.findings import (
    ErasureReport,
    Findings,
    TableOutcome,
    erasure_preview,
    export,
)
from dsr_bot.fulfilment.person import Person
from dsr_bot.fulfilment.sources import DataSourceError, DataSources, ErasureAction
from dsr_bot.fulfilment.sql_connector import SqlConnector, describe_error
from dsr_bot.store.tables import Case, Event

# Art. 19: erasure (17(1)), rectification (16) and restriction (18) must be passed on to
# every recipient the data was disclosed to.
ART_19_TYPES = frozenset({RequestType.ERASURE, RequestType.RECTIFICATION, RequestType.RESTRICTION})


class FulfilmentError(Exception):
    """Fulfilment could not be done completely; `str()` says which source and why."""


@dataclass(frozen=True)
class ChecklistItem:
    """A system staff must handle by hand, ticked off in the Slack card."""

    source: str
    instructions: str
    recipient: bool  # an Art. 19 recipient: tell them of the erasure/correction


@dataclass(frozen=True)
class CasePreview:
    """What fulfilment would do, before anyone approves it."""

    findings: Findings
    erasure: tuple[ErasureReport, ...]
    checklist: tuple[ChecklistItem, ...]
    errors: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Counts, actions and reasons: safe for Slack and logs; the rows stay out."""
        return {
            "found": self.findings.counts(),
            "erasure": [r.as_detail() for r in self.erasure],
            "checklist": [
                {"source": c.source, "instructions": c.instructions, "recipient": c.recipient}
                for c in self.checklist
            ],
            "errors": list(self.errors),
        }


def person_for_case(case: Case, phone: str | None = None) -> Person:
    """The data subject, by the subject's own identifiers: never a representative's
    address (a fullmakt does not make the attorney's data the subject's)."""
    if not case.requester_email:
        raise RuleViolation(f"{case.ref} has no requester address to search for.")
    return Person(case.requester_email, phone=phone, name=case.requester_name)


def checklist(sources: DataSources, types: Iterable[RequestType]) -> list[ChecklistItem]:
    wanted = set(types)
    items = [
        ChecklistItem(s.name, s.instructions, s.recipient)
        for s in sources.manual
        if wanted & set(s.applies_to)
    ]
    if wanted & ART_19_TYPES:
        # A recipient must be told even if its entry forgot to list the request type.
        listed = {i.source for i in items}
        items += [
            ChecklistItem(s.name, s.instructions, True)
            for s in sources.manual
            if s.recipient and s.name not in listed
        ]
    return items


def _connector(sources: DataSources, source: Any) -> SqlConnector:
    return SqlConnector(source, phone_country_code=sources.phone_country_code)


def find_all(sources: DataSources, person: Person) -> tuple[Findings, dict[str, str]]:
    """Every SQL source's findings, and for each source that failed, why."""
    findings = Findings(person)
    errors: dict[str, str] = {}
    for source in sources.sql:
        try:
            with _connector(sources, source) as connector:
                findings = findings + connector.find(person)
        except (DataSourceError, sa.exc.SQLAlchemyError) as exc:
            errors[source.name] = describe_error(exc)
    return findings, errors


def preview_case(sources: DataSources, person: Person, types: Iterable[RequestType]) -> CasePreview:
    """Read-only: what would be exported and erased, and what staff must do by hand."""
    findings, errors = find_all(sources, person)
    reports = [
        ErasureReport(s.name, True, error=errors[s.name], mode="preview")
        if s.name in errors
        else erasure_preview(s.name, findings)
        for s in sources.sql
    ]
    problems = tuple(f"{name}: {why}" for name, why in errors.items())
    return CasePreview(findings, tuple(reports), tuple(checklist(sources, types)), problems)


def export_for_case(
    session: Session,
    sources: DataSources,
    case: Case,
    person: Person,
    *,
    portability: bool,
    now: datetime,
    actor: str,
) -> dict[str, bytes]:
    """The reply's attachments. Refuses to produce a partial export: an access reply that
    silently misses a system would be an incomplete answer under Art. 15(1)."""
    findings, errors = find_all(sources, person)
    if errors:
        raise FulfilmentError("; ".join(f"{name}: {why}" for name, why in errors.items()))
    return record_export(session, case, findings, portability=portability, now=now, actor=actor)


def record_export(
    session: Session,
    case: Case,
    findings: Findings,
    *,
    portability: bool,
    now: datetime,
    actor: str,
    language: str = "sv",
) -> dict[str, bytes]:
    """The export files of `findings`, with the `data_exported` event (counts only).

    Art. 15(4): the copy "shall not adversely affect the rights and freedoms of others".
    Values staff marked on the case (`export_redactions`: another person's name, address,
    a colleague's note) are replaced wherever they occur in a text value, before the files
    exist; the event records how many were replaced, never what."""
    findings, redacted = redact(findings, list(case.export_redactions or []))
    files = export(findings, portability=portability, language=language)
    detail: dict[str, Any] = {
        "scope": "portability" if portability else "access",
        "found": findings.counts(),
    }
    if case.export_redactions:
        detail["redacted"] = redacted
    record_event(
        session, action="data_exported", at=now, actor=actor, case_id=case.id, detail=detail
    )
    return files


REDACTED = "[removed: Art. 15(4)]"


def redact(findings: Findings, values: list[str]) -> tuple[Findings, int]:
    """`findings` with every occurrence of `values` (case-insensitive) in a text value
    replaced by REDACTED; and how many were replaced."""
    wanted = [v.strip() for v in values if len(v.strip()) >= 2]
    if not wanted:
        return findings, 0
    pattern = re.compile(
        "|".join(re.escape(v) for v in sorted(wanted, key=len, reverse=True)), re.I
    )
    count = 0

    def clean(value: Any) -> Any:
        nonlocal count
        if not isinstance(value, str):
            return value
        new, n = pattern.subn(REDACTED, value)
        count += n
        return new

    tables = tuple(
        replace(t, rows=tuple({k: clean(v) for k, v in row.items()} for row in t.rows))
        for t in findings.tables
    )
    return Findings(findings.person, tables), count


def check_erasure_allowed(case: Case) -> None:
    """Erasure is irreversible: only for an erasure request or a withdrawal of consent (whose
    consent-based rows the policy promises to erase), whose requester is verified (Art.
    12(6)) and whose case is still open."""
    erasing = {RequestType.ERASURE.value, RequestType.CONSENT_WITHDRAWAL.value}
    if not erasing & set(case.types):
        raise RuleViolation(f"{case.ref} is not an erasure request.")
    if case.identity_status != IdentityStatus.VERIFIED.value:
        raise RuleViolation(f"{case.ref}: verify the requester's identity before erasing.")
    if case.status not in {s.value for s in OPEN_STATUSES}:
        raise RuleViolation(f"{case.ref} is {case.status}; erasure needs an open case.")


def consent_sources(sources: DataSources) -> DataSources | None:
    """Only the tables marked `consent`, for a withdrawal of consent (Art. 7(3)); a table
    they are found through (`person_via`) comes along as `keep`, read but not changed.
    None when no table is marked."""
    picked = []
    for source in sources.sql:
        wanted = [t for t in source.tables if t.consent]
        if not wanted:
            continue
        via = {t.person_via.table for t in wanted if t.person_via is not None}
        tables = [
            t
            if t.consent
            else t.model_copy(
                update={
                    "erasure": ErasureAction.KEEP,
                    "keep_reason": "not covered by the consent",
                    "set_null": [],
                    "set_values": {},
                }
            )
            for t in source.tables
            if t.consent or t.name in via
        ]
        picked.append(source.model_copy(update={"tables": tables}))
    if not picked:
        return None
    return sources.model_copy(update={"sources": picked})


def erase_sources(
    sources: DataSources, person: Person, *, dry_run: bool = False
) -> list[ErasureReport]:
    """Erase in every SQL source, one transaction each; needs no dsr-bot session, so the
    caller need not hold its own database open while customer systems are worked on.

    Every source gets a report, even one whose connector broke unexpectedly: the sources
    before it have committed, and their row counts must reach the audit trail."""
    reports = []
    for source in sources.sql:
        try:
            with _connector(sources, source) as connector:
                reports.append(connector.erase(person, dry_run=dry_run))
        except Exception as exc:  # reported, not swallowed: see the docstring
            why = f"{describe_error(exc)}; check {source.name}: what changed there is unknown"
            reports.append(ErasureReport(source.name, dry_run, error=why))
    return reports


def erased_before(sources: DataSources, session: Session, case: Case) -> list[ErasureReport]:
    """What earlier erasures of this case committed, rebuilt from their audit events.

    A retried approval (after another source failed, or the approval's own transaction
    rolled back) finds those rows gone; the confirmation must still name them (Art. 12(1):
    the information given must be accurate), so it is built from these reports as well."""
    rows = session.execute(
        sa.select(Event.detail)
        .where(Event.case_id == case.id, Event.action.in_(["data_erased", "erasure_failed"]))
        .order_by(Event.id)
    ).scalars()
    described = {
        (s.name, t.name): (t.description, t.keep_reason) for s in sources.sql for t in s.tables
    }
    reports = []
    for detail in rows:
        for done in (detail or {}).get("sources", []):
            if not done.get("committed"):
                continue
            outcomes = tuple(
                TableOutcome(
                    t["table"],
                    ErasureAction(t["action"]),
                    int(t["rows"]),
                    *described.get((done["source"], t["table"]), ("", t.get("reason", ""))),
                )
                for t in done.get("tables", [])
            )
            reports.append(ErasureReport(done["source"], False, outcomes))
    return reports


def record_erasure(
    session: Session,
    sources: DataSources,
    case: Case,
    reports: list[ErasureReport],
    *,
    now: datetime,
    actor: str,
    dry_run: bool,
    scope: str | None = None,
) -> None:
    """The audit event: per source and table, the action, row count and any reason;
    `scope` "consent" marks an erasure done for a withdrawal of consent (Art. 7(3))."""
    failed = any(not r.ok for r in reports)
    action = "erasure_rehearsed" if dry_run else ("erasure_failed" if failed else "data_erased")
    detail = erasure_detail(sources, case, reports)
    record_event(
        session,
        action=action,
        at=now,
        actor=actor,
        case_id=case.id,
        detail={**detail, "scope": scope} if scope else detail,
    )


def erasure_detail(
    sources: DataSources, case: Case, reports: list[ErasureReport]
) -> dict[str, Any]:
    """Per source and table: the action, row count and any reason; the checklist's systems."""
    types = [RequestType(t) for t in case.types]
    return {
        "sources": [r.as_detail() for r in reports],
        "checklist": [c.source for c in checklist(sources, types)],
    }
