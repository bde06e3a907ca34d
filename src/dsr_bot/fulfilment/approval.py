"""What approving a reply does to the data, per right: the `Fulfiller` the desk calls.

- access (Art. 15): every row found is exported (JSON + CSV attachments), and the reply
  states the purposes, categories and origin (15(1)(a), (b), (g)) of the systems that hold
  the person's data;
- portability (Art. 20): the `provided_by_subject` tables, as JSON + CSV;
- erasure (Art. 17): delete/anonymise/keep per table, one transaction per source; the reply
  says what was erased and what was kept and why (17(3));
- marketing opt-out (Art. 21(2)-(3)) and consent withdrawal (7(3)): the address goes on
  the suppression list, and the reply says so;
- rectification, restriction, objection: staff work in the systems (the card's checklist);
  the reply is the confirmation.

Export runs before erasure, so an access-and-erasure request gets its copy first, and
erasure runs last, after the desk has checked the letter: it is the one step that cannot be
rolled back (each customer database commits on its own). A source
that cannot be searched refuses the approval (an access reply missing a system would be
incomplete; an erasure confirmation would be untrue). Everything is audited by the
functions in `plan.py` and `suppression.py`: counts and hashes, never values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dsr_bot.cases.desk import audit_surviving_rollback
from dsr_bot.cases.fulfiller import (
    Attachment,
    ChecklistEntry,
    Fulfilled,
    FulfilmentFailed,
    Prepared,
)
from dsr_bot.cases.model import RequestType
from dsr_bot.fulfilment import plan
from dsr_bot.fulfilment.findings import ErasureReport, Findings, summarise
from dsr_bot.fulfilment.sources import DataSources, ErasureAction, list_in, text_in
from dsr_bot.fulfilment.suppression import stop_marketing_at_once, suppress

ACCESS, PORTABILITY, ERASURE = "access", "portability", "erasure"
CONSENT = "consent_withdrawal"
SUPPRESSING = frozenset({"marketing_optout", "consent_withdrawal"})
_TEXT = {
    "sv": {
        "files": "personuppgifter",
        "scope": "Direktmarknadsföring: din e-postadress finns nu i vår spärrlista, som inte "
        "används till något annat",
    },
    "en": {
        "files": "personal-data",
        "scope": "Direct marketing: your e-mail address is now on our suppression list, which "
        "is used for nothing else",
    },
    "nb": {
        "files": "personopplysninger",
        "scope": "Direkte markedsføring: e-postadressen din står nå i reservasjonslisten vår, "
        "som ikke brukes til noe annet",
    },
    "da": {
        "files": "personoplysninger",
        "scope": "Direkte markedsføring: din e-mailadresse står nu på vores spærreliste, som "
        "ikke bruges til andet",
    },
}


def _text(language: str) -> dict[str, str]:
    return _TEXT.get(language, _TEXT["en"])


def attachment_names(ref: str, language: str) -> tuple[str, str]:
    stem = f"{ref}-{_text(language)['files']}"
    return f"{stem}.json", f"{stem}.csv"


class CaseFulfiller:
    """`cases.fulfiller.Fulfiller` over the configured data sources (may be empty: then
    only suppression happens, and staff fill in access replies themselves)."""

    def __init__(self, sources: DataSources) -> None:
        self.sources = sources

    def checklist(self, types: Sequence[str]) -> list[ChecklistEntry]:
        wanted = [RequestType(t) for t in types]
        return [
            ChecklistEntry(i.source, i.instructions, i.recipient)
            for i in plan.checklist(self.sources, wanted)
        ]

    def case_opened(self, session: Session, case: Any, now: datetime, actor: str) -> None:
        stop_marketing_at_once(session, case, now, actor=actor)

    def _searches(self, types: set[str]) -> bool:
        return bool(self.sources.sql) and bool(
            types & {ACCESS, PORTABILITY, ERASURE} or self._withdrawing(types)
        )

    def _withdrawing(self, types: set[str]) -> DataSources | None:
        """The consent-based tables a withdrawal of consent erases (Art. 7(3) and the
        policy); an erasure request in the same case erases everything anyway."""
        if CONSENT not in types or ERASURE in types:
            return None
        return plan.consent_sources(self.sources)

    # -- before approval --------------------------------------------------------------
    def prepare(self, case: Any, language: str) -> Prepared:
        types = set(case.types)
        fields: dict[str, Any] = {}
        lines: list[str] = []
        problems: list[str] = []
        audit: dict[str, Any] = {}
        if self._searches(types):
            person = plan.person_for_case(case)
            findings, errors = plan.find_all(self.sources, person)
            problems += [f"{name}: {why}" for name, why in errors.items()]
            audit["found"] = findings.counts()
            if types & {ACCESS, PORTABILITY}:
                portability = ACCESS not in types
                lines.append(_export_line(findings, portability))
                fields.update(self._export_fields(case.ref, language, findings, portability))
            if ERASURE in types:
                # A rehearsal, not a count: every statement runs and is rolled back, so a
                # foreign key or trigger that would stop the erasure shows up now.
                reports = plan.erase_sources(self.sources, person, dry_run=True)
                audit["erasure"] = [r.as_detail() for r in reports]
                lines += _erasure_lines(reports)
                problems += [f"{r.source}: {r.error}" for r in reports if not r.ok]
                fields.update(self._erasure_fields(case, language, reports))
            consent = self._withdrawing(types)
            if consent is not None:
                reports = plan.erase_sources(consent, person, dry_run=True)
                audit["consent_erasure"] = [r.as_detail() for r in reports]
                lines += [f"Consent withdrawn · {line}" for line in _erasure_lines(reports)]
                problems += [f"{r.source}: {r.error}" for r in reports if not r.ok]
                fields.update(_consent_fields(consent, reports, language))
        elif types & {ACCESS, PORTABILITY, ERASURE}:
            lines.append("No SQL data source is configured (DSR_BOT_DATA_SOURCES): do it by hand.")
        if types & SUPPRESSING and getattr(case, "marketing_stopped_at", None) is not None:
            lines.append("Suppression list: already listed at intake (Art. 21(3)).")
        elif types & SUPPRESSING:
            lines.append(
                f"Suppression list: {case.requester_email} is added on approval (Art. 21(3))."
            )
            audit["suppress"] = True
        fields.update(self._suppression_fields(case, language, extra=fields.get("note")))
        audit["errors"] = problems
        return Prepared(fields, tuple(lines), tuple(problems), audit)

    # -- on approval --------------------------------------------------------------------
    def fulfil(
        self,
        session: Session,
        case: Any,
        *,
        language: str,
        now: datetime,
        actor: str,
        before_erasure: Callable[[dict[str, Any]], None] | None = None,
    ) -> Fulfilled:
        """Export, suppress, then erase. `before_erasure` gets the reply fields known so far
        and may refuse (raise): the last point at which refusing leaves no trace in the
        customer systems, so the desk checks the letter there."""
        types = set(case.types)
        fields: dict[str, Any] = {}
        attachments: tuple[Attachment, ...] = ()
        person = plan.person_for_case(case) if self._searches(types) else None
        if person is not None and types & {ACCESS, PORTABILITY}:
            portability = ACCESS not in types
            findings, errors = plan.find_all(self.sources, person)
            if errors:
                why = "; ".join(f"{name}: {e}" for name, e in errors.items())
                raise FulfilmentFailed(
                    f"{case.ref}: export failed, nothing sent. {why}",
                    [("export_failed", {"errors": errors})],
                )
            files = plan.record_export(
                session,
                case,
                findings,
                portability=portability,
                now=now,
                actor=actor,
                language=language,
            )
            exported = self._export_fields(case.ref, language, findings, portability)
            fields.update(exported)
            if not exported.get("no_data"):  # nothing found: an answer with no copy
                json_name, csv_name = attachment_names(case.ref, language)
                attachments = (
                    (json_name, "application/json", files["json"]),
                    (csv_name, "text/csv", files["csv"]),
                )
        if types & SUPPRESSING and case.requester_email:
            suppress(session, case.requester_email, case_id=case.id, now=now, actor=actor)
        erasing = person is not None and ERASURE in types
        consent = self._withdrawing(types) if person is not None else None
        if erasing or consent is not None:
            plan.check_erasure_allowed(case)
        if before_erasure is not None:
            # The letter is checked as it will be: erasure's own fields come after it ran,
            # but which systems it runs in is known now.
            ahead = {"searched": tuple(s.name for s in self.sources.sql)} if erasing else {}
            before_erasure(self._final_fields(case, language, {**ahead, **fields}))
        if person is not None and erasing:
            fields.update(self._erase(session, case, person, language, now=now, actor=actor))
        if person is not None and consent is not None:
            fields.update(
                self._erase_consented(session, case, person, consent, language, now, actor)
            )
        return Fulfilled(self._final_fields(case, language, fields), attachments)

    def _erase_consented(
        self,
        session: Session,
        case: Any,
        person: Any,
        consent: DataSources,
        language: str,
        now: datetime,
        actor: str,
    ) -> dict[str, Any]:
        """Art. 7(3) as the policy promises it: the consent-based rows are erased; audited
        like an erasure, and surviving a rollback of the approval for the same reason."""
        reports = plan.erase_sources(consent, person)
        failed = [r for r in reports if not r.ok]
        detail = {**plan.erasure_detail(consent, case, reports), "scope": "consent"}
        audit_surviving_rollback(session, "erasure_failed" if failed else "data_erased", detail)
        if failed:
            why = "; ".join(f"{r.source}: {r.error}" for r in failed)
            raise FulfilmentFailed(f"{case.ref}: erasure failed, no confirmation sent. {why}")
        plan.record_erasure(
            session, consent, case, reports, now=now, actor=actor, dry_run=False, scope="consent"
        )
        return _consent_fields(consent, reports, language)

    def _final_fields(self, case: Any, language: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, **self._suppression_fields(case, language, extra=fields.get("note"))}

    def _erase(
        self, session: Session, case: Any, person: Any, language: str, *, now: datetime, actor: str
    ) -> dict[str, Any]:
        """Erase in every source; the reply fields. Each source commits on its own, so from
        here on the approval can no longer be undone: the audit event is registered to
        survive a rollback of the approval, and the confirmation also counts what earlier,
        failed approvals of this case erased (a retry finds those rows gone)."""
        earlier = plan.erased_before(self.sources, session, case)
        reports = plan.erase_sources(self.sources, person)
        failed = [r for r in reports if not r.ok]
        detail = plan.erasure_detail(self.sources, case, reports)
        audit_surviving_rollback(session, "erasure_failed" if failed else "data_erased", detail)
        if failed:
            why = "; ".join(f"{r.source}: {r.error}" for r in failed)
            raise FulfilmentFailed(f"{case.ref}: erasure failed, no confirmation sent. {why}")
        plan.record_erasure(
            session, self.sources, case, reports, now=now, actor=actor, dry_run=False
        )
        return self._erasure_fields(case, language, [*earlier, *reports])

    # -- reply fields ------------------------------------------------------------------
    def _export_fields(
        self, ref: str, language: str, findings: Findings, portability: bool
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"attachments": attachment_names(ref, language)}
        if portability:
            if not any(t.rows for t in findings.tables if t.provided_by_subject):
                return {"no_data": True, "searched": tuple(s.name for s in self.sources.sql)}
            return fields
        holding = {t.source for t in findings.tables if t.rows}
        if not holding:
            # Nothing found is a complete Art. 15(1) answer ("we process no personal data
            # about you"), not a refusal; there is no copy to attach.
            return {"no_data": True, "searched": tuple(s.name for s in self.sources.sql)}
        # Art. 15(1)(a), (b), (g) as they apply to this person: only systems holding data.
        used = [s for s in self.sources.sql if s.name in holding]
        fields["purposes"] = tuple(
            dict.fromkeys(p for s in used for p in list_in(s.purposes, language))
        )
        fields["categories"] = tuple(
            dict.fromkeys(c for s in used for c in list_in(s.categories, language))
        )
        fields["sources"] = tuple(
            dict.fromkeys(text_in(s.origin, language) for s in used if s.origin)
        )
        return fields

    def _erasure_fields(
        self, case: Any, language: str, reports: list[ErasureReport]
    ) -> dict[str, Any]:
        summary = summarise(reports, language)
        erased_in = {r.source for r in reports if any(o.rows for o in r.outcomes)}
        told = tuple(s.name for s in self.sources.sql if s.recipient and s.name in erased_in)
        # The letter answers erasure in its own part (replies/context.py reply_name), so the
        # three outcomes (erased, nothing found, partly kept) are its fields, never a note.
        return {
            "erased_summary": summary.erased,
            "kept_summary": summary.kept,
            "recipients_told": told,
            "searched": tuple(s.name for s in self.sources.sql),
        }

    def _suppression_fields(self, case: Any, language: str, extra: str | None) -> dict[str, Any]:
        types = set(case.types)
        if not types & SUPPRESSING:
            return {}
        if "consent_withdrawal" not in types:
            return {}  # the marketing part of the letter says so itself
        return {"consent_scope": (_text(language)["scope"],)}


def _consent_fields(
    consent: DataSources, reports: list[ErasureReport], language: str
) -> dict[str, Any]:
    """What the withdrawal erased: the consent tables' rows, not the tables read on the way."""
    marked = {(s.name, t.name) for s in consent.sql for t in s.tables if t.consent}
    labels = [
        text_in(o.description, language) or f"{r.source}: {o.table}"
        for r in reports
        for o in r.outcomes
        if (r.source, o.table) in marked and o.rows and o.action is not ErasureAction.KEEP
    ]
    return {"consent_erased": tuple(dict.fromkeys(labels))}


def _export_line(findings: Findings, portability: bool) -> str:
    tables = [t for t in findings.tables if t.provided_by_subject or not portability]
    rows = sum(len(t.rows) for t in tables)
    kind = "Portability (provided by the person)" if portability else "Access"
    per_table = ", ".join(f"{t.source} · {t.table}: {len(t.rows)}" for t in tables if t.rows)
    return f"{kind}: {rows} row(s) attached as JSON and CSV" + (
        f" ({per_table})." if per_table else "; nothing found."
    )


def _erasure_lines(reports: list[ErasureReport]) -> list[str]:
    lines = []
    for report in reports:
        for o in report.outcomes:
            reason = f" ({text_in(o.reason, 'en')})" if o.reason else ""
            lines.append(
                f"Erasure · {report.source} · {o.table}: {o.rows} row(s) → {o.action}{reason}"
            )
        if report.error:
            lines.append(f"Erasure · {report.source}: would FAIL and roll back: {report.error}")
    return lines
