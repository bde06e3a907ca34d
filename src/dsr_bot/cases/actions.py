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

__all__ = ["FEE_GROUNDS", "IDENTITY_METHODS", "REJECT_REASONS", "Draft", "StaffDesk"]

IDENTITY_METHODS = ("customer_record", "id_document", "signed_letter", "known_contact", "other")

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
            if case.identity_status == IdentityStatus.VERIFIED.value:
                raise RuleViolation(f"{case.ref}: identity was already verified.")
            case.identity_status = IdentityStatus.VERIFIED.value
            case.identity_method = method
            case.identity_verified_by = staff.actor
            if case.status != CaseStatus.IN_PROGRESS.value:
                service.change_status(
                    session, case, CaseStatus.IN_PROGRESS, now=now, actor=staff.actor
                )
            self._changed(
                session, case, now, staff, "identity_verified", {"method": method, "note": note}
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
