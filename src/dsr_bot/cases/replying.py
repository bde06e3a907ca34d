"""The substantive reply: prepared with a dry run, approved, fulfilled and sent in one step.

Approval is the moment the company acts on the data (Art. 12(3): "action taken on a
request"). So, in the approval's transaction, after the rules (Art. 12(6) identity, four
eyes, every manual system ticked off) and before the letter is queued, the `Fulfiller`
exports, suppresses and, last, erases. If it fails, the whole approval rolls back: no
letter confirms work that was not done, and the same modal can be submitted again once
fixed. Erasure alone cannot be rolled back (each customer database commits on its own), so
the letter is rendered and checked before it, and its audit event survives a rollback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from dsr_bot.cases import service
from dsr_bot.cases.desk import Done, Staff
from dsr_bot.cases.fulfiller import ChecklistEntry, Fulfilled, Prepared
from dsr_bot.cases.model import (
    CaseStatus,
    RuleViolation,
    identity_pending,
)
from dsr_bot.cases.triage import TriageDesk
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case

TICKED, UNTICKED = "checklist_ticked", "checklist_unticked"
OBJECTION_DECIDED = "objection_decided"


def objection_decision(session: Session, case_id: int) -> dict[str, Any] | None:
    """Staff's latest decision on an Art. 21(1) objection: {"upheld": bool, "grounds": str}."""
    decided = repositories.events_of(session, actions=(OBJECTION_DECIDED,), case_id=case_id)
    detail = decided[-1].detail if decided else None
    return dict(detail) if detail else None


def letter_outcomes(types: list[str] | tuple[str, ...], fields: dict[str, Any]) -> dict[str, str]:
    """What the letter states for each right, for the audit trail and `report`."""
    outcomes: dict[str, str] = {}
    for t in types:
        if t in ("access", "portability"):
            outcomes[t] = "no_data" if fields.get("no_data") else "copy_sent"
        elif t == "erasure":
            erased, kept = fields.get("erased_summary"), fields.get("kept_summary")
            outcomes[t] = (
                ("partly_kept" if kept else "erased")
                if erased
                else ("kept" if kept else "nothing_found")
            )
        elif t == "objection":
            outcomes[t] = "upheld" if fields.get("objection_upheld") else "not_upheld"
        elif t == "consent_withdrawal":
            outcomes[t] = "erased" if fields.get("consent_erased") else "stopped"
        elif t == "marketing_optout":
            outcomes[t] = "suppressed"
        else:
            outcomes[t] = "confirmed"
    return outcomes


# Marks a gap fulfilment must fill (e.g. Art. 15(1)(a) purposes) in a prepared reply; a reply
# that still contains it is refused at Send, so no letter goes out with a hole in it.
PLACEHOLDER = "[[FILL IN"

# A case with several rights gets one letter that answers each of them in turn; its name is
# the parts' names joined by "+" ("access_response+erasure_confirmation").
PART_SEPARATOR = "+"


# The template that answers each right, in the order a combined letter answers them: the copy
# first (Art. 15 carries the most the requester is owed), erasure after export.
REPLY_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("access", "access_response"),
    ("portability", "portability_response"),
    ("rectification", "rectification_confirmation"),
    ("restriction", "restriction_confirmation"),
    ("erasure", "erasure_confirmation"),
    ("objection", "objection_outcome"),
    ("marketing_optout", "marketing_optout_confirmation"),
    ("consent_withdrawal", "consent_withdrawal_confirmation"),
)


def reply_name(types: tuple[str, ...] | list[str]) -> str:
    """The substantive reply for a case: one part per right it asks for."""
    names = [name for request_type, name in REPLY_TEMPLATES if request_type in types]
    return PART_SEPARATOR.join(names) or "clarification_request"


def parts(name: str) -> tuple[str, ...]:
    return tuple(name.split(PART_SEPARATOR))


def reply_template(types: list[str] | tuple[str, ...]) -> str:
    """The substantive reply: one letter that answers every right the case asks for."""
    return reply_name(tuple(types))


@dataclass(frozen=True)
class Draft:
    """A prepared reply: what staff see, edit and approve, with the dry run beside it."""

    template: str
    subject: str
    text: str
    html: str
    preview: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    checklist: tuple[tuple[ChecklistEntry, bool], ...] = ()  # (entry, ticked)

    @property
    def digest(self) -> str:
        """Identifies the text as shown; an unchanged submission gets the template's letter."""
        return text_digest(self.subject, self.text)


def text_digest(subject: str, text: str) -> str:
    shown = " ".join(subject.split()) + "\n" + text.strip()
    return hashlib.sha256(shown.encode("utf-8")).hexdigest()[:16]


def ticked_sources(session: Session, case_id: int) -> set[str]:
    """The checklist's ticked systems: the latest tick or untick per system wins."""
    ticked: set[str] = set()
    for event in repositories.events_of(session, actions=(TICKED, UNTICKED), case_id=case_id):
        source = str((event.detail or {}).get("source", ""))
        (ticked.add if event.action == TICKED else ticked.discard)(source)
    return ticked


class ReplyDesk(TriageDesk):
    def _language(self, case: Case) -> str:
        return self.letters.template_language(case.language)

    def checklist(self, case: Case) -> list[ChecklistEntry]:
        return self.fulfiller.checklist(case.types) if self.fulfiller else []

    def prepare_reply(self, staff: Staff, case_id: int) -> Draft:
        """The substantive reply for the case's types and language, for staff to edit, with
        a dry run of what approval will do (audited as `fulfilment_previewed`)."""
        with self._act(staff, None, "prepare_reply", case_id) as ctx:
            assert ctx is not None
            session, now = ctx
            case = self._case(session, case_id)
            name = reply_template(case.types)
            prepared = Prepared()
            if self.fulfiller is not None:
                prepared = self.fulfiller.prepare(case, self._language(case))
                service.record_event(
                    session,
                    action="fulfilment_previewed",
                    at=now,
                    actor=staff.actor,
                    case_id=case.id,
                    detail=prepared.audit,
                )
            ticked = ticked_sources(session, case.id)
            fields = self._with_recipients(
                {**prepared.fields, **self._decisions(session, case)}, case, ticked
            )
            letter = self.letters.draft(name, case, **fields)
            return Draft(
                name,
                letter.subject,
                letter.text,
                letter.html,
                prepared.preview,
                prepared.problems,
                tuple((e, e.source in ticked) for e in self.checklist(case)),
            )

    def _decisions(self, session: Session, case: Case) -> dict[str, Any]:
        """What staff decided that the letter must state: the objection's outcome (Art.
        21(1)). Without a decision there is no objection letter to write."""
        if "objection" not in case.types:
            return {}
        decision = objection_decision(session, case.id)
        if decision is None:
            raise RuleViolation(
                f"{case.ref}: decide the objection first (card: Decide objection): upheld, "
                "or not upheld with the compelling legitimate grounds (Art. 21(1))."
            )
        return {
            "objection_upheld": bool(decision["upheld"]),
            "objection_grounds": decision.get("grounds") or None,
        }

    def _with_recipients(
        self, fields: dict[str, Any], case: Case, ticked: set[str]
    ) -> dict[str, Any]:
        """Art. 19: a manual recipient counts as told once staff ticked off its item; the
        fulfiller adds SQL sources marked `recipient` that it erased in itself. For erasure,
        a ticked system without a connector is one staff erased in by hand: the letter
        lists it with the systems erased."""
        items = self.checklist(case)
        manual = [e.source for e in items if e.recipient and e.source in ticked]
        told = (*fields.get("recipients_told", ()), *manual)
        fields = {**fields, "recipients_told": tuple(dict.fromkeys(told))}
        if "erasure" in case.types and self.fulfiller is not None:
            # Only systems whose checklist item is for erasure: in a case with several
            # rights, a ticked item may stand for a rectification done there.
            erasing = {e.source for e in self.fulfiller.checklist(["erasure"])}
            by_hand = [
                e.source
                for e in items
                if not e.recipient and e.source in ticked and e.source in erasing
            ]
            erased = (*fields.get("erased_summary", ()), *by_hand)
            fields["erased_summary"] = tuple(dict.fromkeys(erased))
        return fields

    def approve_and_send_reply(
        self,
        staff: Staff,
        key: str,
        case_id: int,
        subject: str,
        text: str,
        draft_digest: str | None = None,
        redactions: list[str] | None = None,
    ) -> Done:
        """Approve, fulfil, send. `draft_digest` is `Draft.digest` of the draft shown: if the
        text is unchanged, the letter is rendered from what fulfilment actually did."""
        with self._act(staff, key, "approve_reply", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            self._check_release(staff, case, subject, text)
            if redactions is not None:
                # Art. 15(4): other people's data, taken out of the export before it exists.
                case.export_redactions = [r.strip() for r in redactions if r.strip()] or None
            ticked = ticked_sources(session, case.id)
            open_items = [e.source for e in self.checklist(case) if e.source not in ticked]
            if open_items:
                raise RuleViolation(
                    f"{case.ref}: tick off the checklist in the card first: "
                    f"{', '.join(open_items)}."
                )
            name = reply_template(case.types)
            decisions = self._decisions(session, case)
            if draft_digest is not None:
                edited = text_digest(subject, text) != draft_digest
            else:
                shown = self.letters.draft(name, case, **decisions)
                edited = (" ".join(subject.split()), text.strip()) != (
                    shown.subject,
                    shown.text.strip(),
                )
            done = Fulfilled()
            if self.fulfiller is not None:

                def check_letter(fields: dict[str, Any]) -> None:
                    # Refuse while refusing still undoes everything: erasure comes next.
                    fields = self._with_recipients({**fields, **decisions}, case, ticked)
                    self._letter(name, case, fields, subject, text, edited)

                done = self.fulfiller.fulfil(
                    session,
                    case,
                    language=self._language(case),
                    now=now,
                    actor=staff.actor,
                    before_erasure=check_letter,
                )
            fields = self._with_recipients({**done.fields, **decisions}, case, ticked)
            subject, text, html = self._letter(name, case, fields, subject, text, edited)
            message_id = self.letters.enqueue(
                session,
                case,
                key=f"reply:{case.id}:{key}",
                purpose="substantive_reply",
                subject=subject,
                text=text,
                html=html,
                now=now,
                attachments=done.attachments,
            )
            if case.status == CaseStatus.OPEN.value:  # an opt-out: no identity step before
                service.change_status(
                    session, case, CaseStatus.IN_PROGRESS, now=now, actor=staff.actor
                )
            service.change_status(
                session, case, CaseStatus.ANSWERED, now=now, actor=staff.actor, shred=self.shred
            )
            self._changed(
                session,
                case,
                now,
                staff,
                "reply_approved",
                {
                    "template": name,
                    "message_id": message_id,
                    "edited": edited,
                    "attachments": [a[0] for a in done.attachments],
                    "redactions": len(case.export_redactions or []),
                    "outcomes": letter_outcomes(case.types, fields),
                },
            )
            return Done(f"{case.ref}: reply approved and queued for sending.", case.ref)

    def _check_release(self, staff: Staff, case: Case, subject: str, text: str) -> None:
        if identity_pending(case.types, case.identity_status):
            raise RuleViolation(
                f"{case.ref}: verify the requester's identity before sending a reply (Art. 12(6))."
            )
        if case.representative_kind and case.representative_verified_at is None:
            raise RuleViolation(
                f"{case.ref}: verify the representative's authority (fullmakt, guardianship) "
                "before the reply goes to them."
            )
        if self.policy.four_eyes and case.identity_verified_by == staff.actor:
            raise RuleViolation(
                f"{case.ref}: four-eyes rule: you verified the identity, so another "
                "approver must approve the reply."
            )
        if PLACEHOLDER in text or PLACEHOLDER in subject:
            raise RuleViolation(f"{case.ref}: fill in every {PLACEHOLDER} …]] gap first.")
        if not text.strip():
            raise RuleViolation("The reply is empty.")

    def _letter(
        self, name: str, case: Case, fields: dict[str, Any], subject: str, text: str, edited: bool
    ) -> tuple[str, str, str | None]:
        """Unedited: the template rendered from what was done. Edited: staff's words, with
        the HTML part built from them."""
        if not edited:
            try:
                final = self.letters.render(name, case, **fields)
            except ValueError as exc:  # e.g. the data found at preview has gone since
                raise RuleViolation(
                    f"{case.ref}: the reply cannot be completed ({exc}); prepare it again."
                ) from None
            return final.subject, final.text, final.html
        subject = " ".join(subject.split())
        if case.ref not in subject:
            subject = f"{subject} [{case.ref}]"  # intake threads replies by the reference
        return subject, text, None

    # -- the checklist of systems without a connector ----------------------------------
    def tick_checklist(
        self,
        staff: Staff,
        key: str,
        case_id: int,
        selected: list[str],
        *,
        offset: int = 0,
        size: int | None = None,
    ) -> Done:
        """Set the ticked systems of one checkbox group (the checklist's items `offset` to
        `offset + size`) to `selected`. Each change is an audit event; delivering the same
        state again changes nothing."""
        with self._act(staff, key, "tick_checklist", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            items = self.checklist(case)
            group = {e.source for e in items[offset : None if size is None else offset + size]}
            unknown = set(selected) - group
            if unknown:
                raise RuleViolation(f"{case.ref}: not on the checklist: {', '.join(unknown)}.")
            before = ticked_sources(session, case.id) & group
            after = set(selected)
            for source in sorted(after - before):
                self._changed(session, case, now, staff, TICKED, {"source": source})
            for source in sorted(before - after):
                self._changed(session, case, now, staff, UNTICKED, {"source": source})
            if before == after:
                return Done(f"{case.ref}: checklist unchanged.", case.ref, repeated=True)
            return Done(f"{case.ref}: checklist updated.", case.ref)
