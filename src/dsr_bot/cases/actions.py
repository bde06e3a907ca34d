"""What staff may do to a case (from Slack or any other adapter), one transaction each.

Every use case here runs in `DeskBase._act` (cases/desk.py), which
  1. claims its idempotency key (`StaffAction.key`, unique): a double click or a redelivered
     interaction finds the key taken and does nothing;
  2. checks that the person may act (`Staff.approver`);
and then the action checks the domain rules, changes the case, writes the audit event with
the person's id (`slack:U123`) and enqueues what must leave the process (the letter, the card
update) — all in one commit. A refusal raises `RuleViolation` with a sentence for the person;
the refusal itself is then recorded in a separate transaction, so the audit trail shows
attempts as well as acts.

Art. 12(6) / Art. 5(1)(f): no substantive reply before the requester's identity is verified,
and only an approver (optionally not the verifier: four eyes) can release one.
"""

from __future__ import annotations

from dsr_bot.cases import service
from dsr_bot.cases.desk import Done, Staff
from dsr_bot.cases.model import CaseStatus, IdentityStatus, RequestType, RuleViolation
from dsr_bot.cases.replying import Draft, ReplyDesk

__all__ = ["IDENTITY_METHODS", "REJECT_REASONS", "Draft", "StaffDesk"]

IDENTITY_METHODS = ("customer_record", "id_document", "signed_letter", "known_contact", "other")

# Reasons staff may give for refusing (Art. 12(5): manifestly unfounded or excessive; Art. 11(2)
# and 12(2): the requester cannot be identified), in the languages we have templates for; the
# staff note is added after it in the reply.
REJECT_REASONS: dict[str, dict[str, str]] = {
    "manifestly_unfounded": {
        "sv": "Begäran är uppenbart ogrundad (artikel 12.5 i dataskyddsförordningen).",
        "en": "The request is manifestly unfounded (Article 12(5) GDPR).",
    },
    "excessive": {
        "sv": "Begäran är orimlig, särskilt eftersom den upprepas (artikel 12.5 i "
        "dataskyddsförordningen).",
        "en": "The request is excessive, in particular because of its repetitive character "
        "(Article 12(5) GDPR).",
    },
    "identity_not_confirmed": {
        "sv": "Vi har inte kunnat bekräfta din identitet (artikel 12.2 och 12.6 i "
        "dataskyddsförordningen).",
        "en": "We have not been able to confirm your identity (Article 12(2) and 12(6) GDPR).",
    },
    "no_data_held": {
        "sv": "Vi behandlar inga personuppgifter om dig.",
        "en": "We do not process any personal data about you.",
    },
    "other": {"sv": "", "en": ""},
}


class StaffDesk(ReplyDesk):
    # -- identity (Art. 12(6)) -----------------------------------------------------------
    def verify_identity(
        self, staff: Staff, key: str, case_id: int, method: str, note: str = ""
    ) -> Done:
        with self._act(staff, key, "verify_identity", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if method not in IDENTITY_METHODS:
                raise RuleViolation(f"Unknown verification method {method!r}.")
            if method == "other" and not note.strip():
                # Art. 5(2): "other" says nothing on its own; the note is the record.
                raise RuleViolation("Say in the note how the identity was verified.")
            if case.identity_status == IdentityStatus.VERIFIED.value:
                raise RuleViolation(f"{case.ref}: identity was already verified.")
            case.identity_status = IdentityStatus.VERIFIED.value
            case.identity_method = method
            case.identity_verified_by = staff.actor
            case.identity_verified_at = now
            if case.status != CaseStatus.IN_PROGRESS.value:
                service.change_status(
                    session, case, CaseStatus.IN_PROGRESS, now=now, actor=staff.actor
                )
            service.resume_deadline(session, case, policy=self.policy, now=now, actor=staff.actor)
            self._changed(
                session, case, now, staff, "identity_verified", {"method": method, "note": note}
            )
            service.delete_identity_documents(
                session, case, now=now, actor=staff.actor, reason="identity_verified"
            )
            return Done(f"{case.ref}: identity verified.", case.ref)

    # -- small edits ---------------------------------------------------------------------
    def change_types(self, staff: Staff, key: str, case_id: int, types: list[str]) -> Done:
        with self._act(staff, key, "change_types", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            try:
                new = sorted({RequestType(t).value for t in types})
            except ValueError:
                raise RuleViolation(f"Unknown request type among {types}.") from None
            if not new:
                raise RuleViolation("A case needs at least one request type.")
            old = list(case.types)
            case.types = new
            self._changed(session, case, now, staff, "types_changed", {"from": old, "to": new})
            return Done(f"{case.ref}: types set to {', '.join(new)}.", case.ref)

    def assign(self, staff: Staff, key: str, case_id: int) -> Done:
        with self._act(staff, key, "assign", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if case.assignee == staff.actor:
                raise RuleViolation(f"{case.ref} is already assigned to you.")
            previous = case.assignee
            case.assignee = staff.actor
            self._changed(session, case, now, staff, "assigned", {"from": previous})
            return Done(f"{case.ref} is now assigned to you.", case.ref)

    def close(self, staff: Staff, key: str, case_id: int) -> Done:
        with self._act(staff, key, "close", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id, open_only=False)
            service.change_status(session, case, CaseStatus.CLOSED, now=now, actor=staff.actor)
            self._changed(session, case, now, staff, "closed", {})
            return Done(f"{case.ref} closed.", case.ref)

    # -- letters to the requester ---------------------------------------------------------
    def request_identity_proof(self, staff: Staff, key: str, case_id: int) -> Done:
        """Art. 12(6): ask for what we need to confirm identity (identity_request template)."""
        with self._act(staff, key, "request_identity_proof", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if case.identity_status == IdentityStatus.VERIFIED.value:
                raise RuleViolation(f"{case.ref}: identity is already verified.")
            message_id = self.letters.send(
                session, case, "identity_request", key=f"idreq:{case.id}:{key}", now=now
            )
            case.identity_status = IdentityStatus.REQUESTED.value
            if case.status == CaseStatus.OPEN.value:
                service.change_status(
                    session, case, CaseStatus.AWAITING_IDENTITY, now=now, actor=staff.actor
                )
            self._changed(
                session, case, now, staff, "identity_requested", {"message_id": message_id}
            )
            return Done(f"{case.ref}: identity request queued to the requester.", case.ref)

    def extend(self, staff: Staff, key: str, case_id: int, reason: str) -> Done:
        """Art. 12(3): two more months, with reasons, told within the first month."""
        with self._act(staff, key, "extend", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            service.extend_deadline(
                session, case, policy=self.policy, now=now, actor=staff.actor, reason=reason
            )
            message_id = self.letters.send(
                session, case, "extension_notice", key=f"extend:{case.id}", now=now
            )
            self._changed(
                session, case, now, staff, "extension_notice_queued", {"message_id": message_id}
            )
            return Done(f"{case.ref}: extended to {case.extended_due_on}; notice queued.", case.ref)

    def reject(self, staff: Staff, key: str, case_id: int, reason: str, note: str = "") -> Done:
        """Art. 12(4): a refusal states why and the right to complain to IMY and a court
        (the refusal template says the latter)."""
        with self._act(staff, key, "reject", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if reason not in REJECT_REASONS:
                raise RuleViolation(f"Unknown reason {reason!r}.")
            lang = "sv" if self.letters.renderer.template_language(case.language) == "sv" else "en"
            stated = " ".join(p for p in (REJECT_REASONS[reason][lang], note.strip()) if p)
            if not stated:
                raise RuleViolation("Say why in the note: the requester must be told (Art. 12(4)).")
            message_id = self.letters.send(
                session,
                case,
                "refusal",
                key=f"refusal:{case.id}",
                now=now,
                refusal_reason=stated,
            )
            if reason == "identity_not_confirmed":
                case.identity_status = IdentityStatus.FAILED.value
            service.change_status(session, case, CaseStatus.REJECTED, now=now, actor=staff.actor)
            self._changed(
                session,
                case,
                now,
                staff,
                "rejected",
                {"reason": reason, "note": note, "message_id": message_id},
            )
            return Done(f"{case.ref}: rejected; refusal queued to the requester.", case.ref)
