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
from dsr_bot.cases.replying import OBJECTION_DECIDED, Draft, ReplyDesk

__all__ = [
    "AUTHORITY_METHODS",
    "FEE_GROUNDS",
    "IDENTITY_METHODS",
    "REJECT_REASONS",
    "Draft",
    "StaffDesk",
]

IDENTITY_METHODS = ("customer_record", "id_document", "signed_letter", "known_contact", "other")
# How a representative's authority was checked: a signed power of attorney (fullmakt), a
# record of guardianship (a child's parent, förvaltare/god man), or as the note says.
AUTHORITY_METHODS = ("signed_power_of_attorney", "guardianship_record", "other")

# Grounds staff may give for refusing (Art. 12(5): manifestly unfounded or excessive; Art. 11(2)
# and 12(2): the requester cannot be identified). Each needs the reason written out in the
# note (Art. 12(4)); the refusal letter adds the legal paragraph of its ground only. "We hold
# no data about you" is not a refusal: it is an access answer (`answer_no_data`).
REJECT_REASONS: dict[str, str] = {
    "manifestly_unfounded": "Art. 12(5)",
    "excessive": "Art. 12(5)",
    "identity_not_confirmed": "Art. 11(2), 12(2)",
    "other": "",
}
# Art. 12(5)(a): instead of refusing, a reasonable fee, for these grounds only.
FEE_GROUNDS = frozenset({"manifestly_unfounded", "excessive"})


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
            if self.shred is not None:
                service.delete_identity_documents(
                    session,
                    case,
                    now=now,
                    actor=staff.actor,
                    reason="identity_verified",
                    shred=self.shred,
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
            service.change_status(
                session, case, CaseStatus.CLOSED, now=now, actor=staff.actor, shred=self.shred
            )
            self._changed(session, case, now, staff, "closed", {})
            return Done(f"{case.ref} closed.", case.ref)

    # -- letters to the requester ---------------------------------------------------------
    def request_identity_proof(
        self,
        staff: Staff,
        key: str,
        case_id: int,
        items: list[str] | tuple[str, ...] = (),
        pause: bool = False,
    ) -> Done:
        """Art. 12(6): ask for what we need to confirm identity (identity_request template):
        `items` are staff's own questions (empty: the template's list); `pause` suspends the
        deadline until the proof arrives, for a request that cannot be handled without it
        (EDPB 01/2022 §3.3) — the letter says so."""
        with self._act(staff, key, "request_identity_proof", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if case.identity_status == IdentityStatus.VERIFIED.value:
                raise RuleViolation(f"{case.ref}: identity is already verified.")
            asked = tuple(i.strip() for i in items if i.strip())
            if pause:
                service.pause_deadline(session, case, now=now, actor=staff.actor)
            message_id = self.letters.send(
                session,
                case,
                "identity_request",
                key=f"idreq:{case.id}:{key}",
                now=now,
                identity_items=asked,
                deadline_paused=pause,
            )
            case.identity_status = IdentityStatus.REQUESTED.value
            if case.status == CaseStatus.OPEN.value:
                service.change_status(
                    session, case, CaseStatus.AWAITING_IDENTITY, now=now, actor=staff.actor
                )
            self._changed(
                session,
                case,
                now,
                staff,
                "identity_requested",
                {"message_id": message_id, "items": len(asked), "paused": pause},
            )
            return Done(f"{case.ref}: identity request queued to the requester.", case.ref)

    def ask_clarification(
        self, staff: Staff, key: str, case_id: int, questions: list[str] | tuple[str, ...]
    ) -> Done:
        """Ask what the request covers (clarification_request). The month keeps running:
        asking is no reason to stop the clock (EDPB 01/2022 §3.1.2 para. 49, §3.3)."""
        with self._act(staff, key, "ask_clarification", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            asked = tuple(q.strip() for q in questions if q.strip())
            if not asked:
                raise RuleViolation("Write at least one question for the requester.")
            message_id = self.letters.send(
                session,
                case,
                "clarification_request",
                key=f"clarify:{case.id}:{key}",
                now=now,
                questions=asked,
            )
            self._changed(
                session,
                case,
                now,
                staff,
                "clarification_requested",
                {"message_id": message_id, "questions": len(asked)},
            )
            return Done(f"{case.ref}: question queued to the requester.", case.ref)

    def set_export_redactions(
        self, staff: Staff, key: str, case_id: int, values: list[str] | tuple[str, ...]
    ) -> Done:
        """Art. 15(4): what to take out of the access export (replaced before it exists)."""
        with self._act(staff, key, "set_export_redactions", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if not {"access", "portability"} & set(case.types):
                raise RuleViolation(f"{case.ref} has no export to remove anything from.")
            kept = [v.strip() for v in values if v.strip()]
            if any(len(v) < 2 for v in kept):
                raise RuleViolation("Each value needs at least two characters.")
            case.export_redactions = kept or None
            # How many, never what: the values are someone else's personal data.
            self._changed(session, case, now, staff, "export_redactions_set", {"count": len(kept)})
            return Done(
                f"{case.ref}: {len(kept)} value(s) will be removed from the export.", case.ref
            )

    # -- representatives ------------------------------------------------------------------
    def record_representative(
        self,
        staff: Staff,
        key: str,
        case_id: int,
        kind: str,
        name: str,
        email: str,
        subject_email: str = "",
        subject_name: str = "",
    ) -> Done:
        """The request came from someone acting for the data subject. Their address gets
        the letters; the data subject's identifiers are what the data is searched by."""
        with self._act(staff, key, "record_representative", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if not name.strip():
                raise RuleViolation("The representative's name is needed.")
            rep_email = service.bare_address(email)
            if case.identity_status == IdentityStatus.VERIFIED.value and subject_email:
                raise RuleViolation(
                    f"{case.ref}: the data subject's identity was verified for another "
                    "address; reject and register the request anew."
                )
            service.set_representative(
                session, case, kind, name, rep_email, now=now, actor=staff.actor
            )
            if subject_email.strip():
                case.requester_email = service.bare_address(subject_email)
            if subject_name.strip():
                case.requester_name = " ".join(subject_name.split())
            self._changed(session, case, now, staff, "representative_changed", {"kind": kind})
            return Done(f"{case.ref}: representative recorded; verify their authority.", case.ref)

    def verify_representative(
        self, staff: Staff, key: str, case_id: int, method: str, note: str = ""
    ) -> Done:
        """The representative's authority (a signed fullmakt, proof of guardianship) is
        checked: from now on the reply may go to them. Method, who and when are recorded."""
        with self._act(staff, key, "verify_representative", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if not case.representative_kind:
                raise RuleViolation(f"{case.ref} has no representative.")
            if case.representative_verified_at is not None:
                raise RuleViolation(f"{case.ref}: the representative is already verified.")
            if method not in AUTHORITY_METHODS:
                raise RuleViolation(f"Unknown verification method {method!r}.")
            if method == "other" and not note.strip():
                raise RuleViolation("Say in the note how the authority was verified.")
            case.representative_verified_method = method
            case.representative_verified_by = staff.actor
            case.representative_verified_at = now
            self._changed(
                session,
                case,
                now,
                staff,
                "representative_verified",
                {"method": method, "note": note},
            )
            return Done(f"{case.ref}: representative's authority verified.", case.ref)

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

    def reject(
        self, staff: Staff, key: str, case_id: int, reason: str, note: str = "", fee: str = ""
    ) -> Done:
        """Art. 12(4): a refusal states why and the right to complain to IMY and a court.
        With `fee` (Art. 12(5)(a)), a manifestly unfounded or excessive request is not
        refused: the requester is told the reasonable fee instead, and the case stays open."""
        with self._act(staff, key, "reject", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if reason not in REJECT_REASONS:
                raise RuleViolation(f"Unknown reason {reason!r}.")
            stated = note.strip()
            if not stated:
                raise RuleViolation(
                    "Write the reason out in the note: the requester must be told why (Art. 12(4))."
                )
            if fee.strip():
                if reason not in FEE_GROUNDS:
                    raise RuleViolation(
                        "A fee is possible only for a manifestly unfounded or excessive "
                        "request (Art. 12(5))."
                    )
                message_id = self.letters.send(
                    session,
                    case,
                    "fee_request",
                    key=f"fee:{case.id}:{key}",
                    now=now,
                    fee_amount=fee.strip(),
                    fee_reason=stated,
                )
                self._changed(
                    session,
                    case,
                    now,
                    staff,
                    "fee_requested",
                    {"reason": reason, "fee": fee.strip(), "message_id": message_id},
                )
                return Done(f"{case.ref}: fee request queued to the requester.", case.ref)
            message_id = self.letters.send(
                session,
                case,
                "refusal",
                key=f"refusal:{case.id}",
                now=now,
                refusal_reason=stated,
                refusal_ground=reason,
            )
            if reason == "identity_not_confirmed":
                case.identity_status = IdentityStatus.FAILED.value
            service.change_status(
                session, case, CaseStatus.REJECTED, now=now, actor=staff.actor, shred=self.shred
            )
            self._changed(
                session,
                case,
                now,
                staff,
                "rejected",
                {"reason": reason, "note": note, "message_id": message_id},
            )
            return Done(f"{case.ref}: rejected; refusal queued to the requester.", case.ref)

    # -- decisions the letter states ------------------------------------------------------
    def decide_objection(
        self, staff: Staff, key: str, case_id: int, outcome: str, grounds: str = ""
    ) -> Done:
        """Art. 21(1): staff decide; *not upheld* needs the compelling legitimate grounds
        written out, which the letter states with the right to complain to IMY and a court."""
        with self._act(staff, key, "decide_objection", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if "objection" not in case.types:
                raise RuleViolation(f"{case.ref} has no objection (Art. 21(1)) to decide.")
            if outcome not in ("upheld", "not_upheld"):
                raise RuleViolation(f"Unknown outcome {outcome!r}.")
            upheld = outcome == "upheld"
            if not upheld and not grounds.strip():
                raise RuleViolation(
                    "Write out the compelling legitimate grounds that override the person's "
                    "interests (Art. 21(1)); the letter states them."
                )
            self._changed(
                session,
                case,
                now,
                staff,
                OBJECTION_DECIDED,
                {"upheld": upheld, "grounds": "" if upheld else grounds.strip()},
            )
            word = "upheld" if upheld else "not upheld"
            return Done(f"{case.ref}: objection {word}; prepare the reply.", case.ref)

    def answer_no_data(self, staff: Staff, key: str, case_id: int) -> Done:
        """Art. 15(1): "we process no personal data about you" is a complete answer to an
        access request, not a refusal; it is recorded as its own outcome (`report`)."""
        with self._act(staff, key, "answer_no_data", case_id) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = self._case(session, case_id)
            if list(case.types) != ["access"]:
                raise RuleViolation(
                    f"{case.ref}: 'no data held' answers an access request alone; use "
                    "Prepare reply for a case with other rights, so each is answered."
                )
            message_id = self.letters.send(
                session,
                case,
                "access_response",
                key=f"nodata:{case.id}",
                now=now,
                purpose="substantive_reply",
                no_data=True,
            )
            if case.status != CaseStatus.IN_PROGRESS.value:
                service.change_status(
                    session, case, CaseStatus.IN_PROGRESS, now=now, actor=staff.actor
                )
            service.change_status(session, case, CaseStatus.ANSWERED, now=now, actor=staff.actor)
            self._changed(
                session,
                case,
                now,
                staff,
                "reply_approved",
                {
                    "template": "access_response",
                    "message_id": message_id,
                    "edited": False,
                    "attachments": [],
                    "outcomes": {"access": "no_data"},
                },
            )
            return Done(f"{case.ref}: answered: no personal data held (Art. 15).", case.ref)
