"""Staff decisions on messages intake could not call a request: open as a case, or dismiss.

A message in triage is one intake marked `not_request` or `needs_review` (an uncertain
classification, an unparseable mail). Staff decide; the decision is an audit event, so the
same message cannot be decided twice.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dsr_bot.cases import service
from dsr_bot.cases.desk import DeskBase, Done, Staff
from dsr_bot.cases.model import Disposition, RequestType, RuleViolation
from dsr_bot.store import repositories
from dsr_bot.store.tables import InboundMessage

TRIAGE_DECISIONS = ("triage_opened", "triage_dismissed")


class TriageDesk(DeskBase):
    def _inbound(self, session: Session, inbound_id: int) -> InboundMessage:
        inbound = session.get(InboundMessage, inbound_id, with_for_update=True)
        if inbound is None:
            raise RuleViolation("That message no longer exists.")
        earlier = repositories.events_of(session, actions=TRIAGE_DECISIONS, inbound_id=inbound_id)
        decided = earlier[0] if earlier else None
        if decided is not None or inbound.case_id is not None:
            who = f" by {decided.actor}" if decided is not None else ""
            raise RuleViolation(f"This message was already handled{who}.")
        return inbound

    def open_triage_as_case(
        self, staff: Staff, key: str, inbound_id: int, types: list[str]
    ) -> Done:
        with self._act(staff, key, "open_triage_as_case", None) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            inbound = self._inbound(session, inbound_id)
            try:
                chosen = [RequestType(t) for t in types]
            except ValueError:
                raise RuleViolation(f"Unknown request type among {types}.") from None
            if not chosen:
                raise RuleViolation("Choose at least one request type.")
            case = service.open_case(
                session,
                policy=self.policy,
                now=now,
                # Art. 12(3): the month runs from receipt, not from when staff looked at it.
                received_at=inbound.received_at,
                types=chosen,
                requester_email=inbound.sender,
                requester_name=inbound.sender_name,
                language=inbound.language or "sv",
                scores=inbound.scores,
                request_message_id=inbound.message_id,
                request_subject=inbound.subject,
                inbound_id=inbound.id,
                actor=staff.actor,
            )
            inbound.case_id = case.id
            inbound.disposition = Disposition.CASE.value
            inbound.disposition_reason = f"opened by {staff.actor}"
            if self.fulfiller is not None:
                self.fulfiller.case_opened(session, case, now, staff.actor)
            if case.requester_email:
                self.letters.acknowledge(session, case, now)
            event = service.record_event(
                session,
                action="triage_opened",
                at=now,
                actor=staff.actor,
                case_id=case.id,
                inbound_id=inbound.id,
                detail={"ref": case.ref, "types": case.types},
            )
            session.flush()
            for listener in self.listeners:
                listener.case_opened(session, case, inbound, now)
                listener.triage_resolved(session, inbound, event, now)
            return Done(f"Opened {case.ref}.", case.ref)

    def register_request(self, staff: Staff, key: str, request: service.OfflineRequest) -> Done:
        """A request taken by phone, by letter or in person (`/dsr new`, `cases new`)."""
        with self._act(staff, key, "register_request", None) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            case = service.register_request(
                session, request, policy=self.policy, now=now, actor=staff.actor
            )
            if self.fulfiller is not None:
                self.fulfiller.case_opened(session, case, now, staff.actor)
            self.letters.acknowledge(session, case, now)
            session.flush()
            for listener in self.listeners:
                listener.case_opened(session, case, None, now)
            how = "by mail" if case.requester_email or case.representative_email else "to print"
            return Done(
                f"Registered {case.ref} ({request.channel}); due {case.due_on}; "
                f"acknowledgement {how}.",
                case.ref,
            )

    def dismiss_triage(self, staff: Staff, key: str, inbound_id: int) -> Done:
        with self._act(staff, key, "dismiss_triage", None) as ctx:
            if ctx is None:
                return Done("Already done.", repeated=True)
            session, now = ctx
            inbound = self._inbound(session, inbound_id)
            event = service.record_event(
                session, action="triage_dismissed", at=now, actor=staff.actor, inbound_id=inbound.id
            )
            session.flush()
            for listener in self.listeners:
                listener.triage_resolved(session, inbound, event, now)
            return Done("Dismissed: not a request.")
