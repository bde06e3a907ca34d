"""The steps that decide one inbound message, in order. Each decides or passes on.

Like Mailman's rules and chains (or bolt-python's middleware): a step looks at the message
being decided and either returns a `Decision` — the message is settled, later steps do not
run — or None to pass it to the next step. The order is the policy:

1. `duplicate`: the same mail seen before (another UID, a resend) gets the first copy's fate;
2. `unparseable`: mail we cannot read goes to a person;
3. `automatic`: bounces and out-of-office replies answer something, they never ask;
4. `threaded_reply`: a reply on a known case joins that case (RFC 5322 3.6.4 threading);
5. `classify`: the model decides whether a right is exercised, and which;
6. `open_case`: a request opens a case with its Art. 12(3) deadline;
7. `acknowledge`: the requester is told, unless that would answer a machine.

Steps write only to the caller's session: the pipeline commits the decision, its audit
events and its outbox rows together (see pipeline.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsr_bot.cases import service
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus, Classification, Disposition
from dsr_bot.cases.ports import LetterPort
from dsr_bot.classify.base import Classifier
from dsr_bot.intake.matching import find_duplicate, thread_to_case
from dsr_bot.mail.loops import auto_reply_reason, is_automatic_response
from dsr_bot.mail.parse import ParsedMessage
from dsr_bot.store.tables import Case, InboundMessage, Outbound

NOT_A_REQUEST = "classified as not a request"


@dataclass(frozen=True)
class IntakePolicy:
    case_policy: service.CasePolicy
    mail_from: str
    from_name: str
    own_addresses: frozenset[str]
    ack_limit_per_sender_per_day: int = 3


@dataclass(frozen=True)
class Decision:
    """What a step settled: the message's disposition, why, and the case it belongs to."""

    disposition: Disposition
    reason: str | None = None
    case: Case | None = None
    acknowledged: bool = False


class Tools(Protocol):
    """What the steps use besides the session: the classifier, letters and the policy."""

    @property
    def classifier(self) -> Classifier: ...

    @property
    def letters(self) -> LetterPort: ...

    @property
    def policy(self) -> IntakePolicy: ...


@dataclass
class Deciding:
    """One message on its way through the steps, and what earlier steps found out."""

    session: Session
    row: InboundMessage
    msg: ParsedMessage
    now: datetime
    tools: Tools
    loop_reason: str | None = None
    result: Classification | None = None
    case: Case | None = None
    _thread: tuple[Case, str] | None = field(default=None, repr=False)
    _threaded: bool = field(default=False, repr=False)

    def thread(self) -> tuple[Case, str] | None:
        """The case this message replies to and how it matched (looked up once)."""
        if not self._threaded:
            self._thread = thread_to_case(self.session, self.msg)
            self._threaded = True
        return self._thread


Step = Callable[[Deciding], Decision | None]


def duplicate(m: Deciding) -> Decision | None:
    """A copy of a message decided before: same fate, never a second case or answer."""
    first = find_duplicate(m.session, m.row)
    if first is None:
        return None
    m.row.duplicate_of = first.id
    m.row.language = first.language
    case = m.session.get(Case, first.case_id) if first.case_id else None
    return Decision(
        Disposition(first.disposition or Disposition.NEEDS_REVIEW.value),
        f"duplicate of inbound {first.id}",
        case,
    )


def unparseable(m: Deciding) -> Decision | None:
    """Mail we could not read is shown to a person, with the parser's warnings."""
    if m.msg.ok:
        return None
    return Decision(Disposition.NEEDS_REVIEW, "unparseable: " + "; ".join(m.msg.warnings)[:500])


def automatic(m: Deciding) -> Decision | None:
    """Bounces and out-of-office replies answer something; they never ask for anything.

    Other machine mail (a web form's no-reply address, a list) may still carry a request:
    its reason is kept so that `open_case` withholds only the automatic answer (RFC 3834).
    """
    m.loop_reason = auto_reply_reason(m.msg, m.tools.policy.own_addresses)
    if m.loop_reason is None or not is_automatic_response(m.loop_reason):
        return None
    threaded = m.thread()
    return Decision(Disposition.NOT_REQUEST, m.loop_reason, threaded[0] if threaded else None)


def threaded_reply(m: Deciding) -> Decision | None:
    """A reply on a known case joins it; a reply on a finished case goes to a person."""
    threaded = m.thread()
    if threaded is None:
        return None
    case, matched_by = threaded
    if CaseStatus(case.status) not in OPEN_STATUSES:
        # "Thanks — and now delete my data too" on a finished case: a person decides
        # whether it is a new request; it must not vanish into a closed thread.
        return Decision(
            Disposition.NEEDS_REVIEW, f"reply to a {case.status} case ({matched_by})", case
        )
    service.attach_reply(
        m.session,
        case,
        now=m.now,
        inbound_id=m.row.id,
        matched_by=matched_by,
        sender_matches=(m.msg.sender_email or "") == (case.requester_email or ""),
    )
    return Decision(Disposition.REPLY, f"threaded by {matched_by}", case)


def classifier_input(msg: ParsedMessage) -> tuple[str, str]:
    """(subject, text) the classifier sees. A bare forward has no new text of its own; then
    the forwarded text is all we have. The pipeline classifies a batch ahead with these."""
    return msg.subject, msg.new_text.strip() or msg.text


def classify(m: Deciding) -> Decision | None:
    """Which rights the writer exercises; no right means not a request (or a person looks)."""
    # Timed by the pipeline's BatchClassifier (metrics.classification_seconds).
    result = m.tools.classifier.classify(*classifier_input(m.msg))
    m.result = result
    m.row.language = result.language
    m.row.labels = [str(label) for label in result.labels]
    m.row.scores = result.scores
    if result.is_request:
        return None
    if result.needs_review or m.row.truncated:
        return Decision(Disposition.NEEDS_REVIEW, "uncertain classification")
    return Decision(Disposition.NOT_REQUEST, m.loop_reason or NOT_A_REQUEST)


def open_case(m: Deciding) -> Decision | None:
    """A request opens a case; its deadline runs from receipt (Art. 12(3))."""
    assert m.result is not None, "open_case runs after classify"
    m.case = service.open_case(
        m.session,
        policy=m.tools.policy.case_policy,
        now=m.now,
        received_at=m.row.received_at,
        types=m.result.labels,
        requester_email=m.msg.sender_email,
        requester_name=m.msg.sender_name,
        language=m.result.language,
        scores=m.result.scores,
        request_message_id=m.msg.message_id,
        request_references=m.msg.references,
        request_subject=m.msg.subject,
        inbound_id=m.row.id,
    )
    if m.loop_reason is None:
        return None
    # A web form's no-reply mail or a list post can still carry a real request: the
    # case and its deadline stand, only the automatic answer is withheld (RFC 3834).
    service.record_event(
        m.session,
        action="acknowledgement_suppressed",
        at=m.now,
        case_id=m.case.id,
        detail={"reason": m.loop_reason},
    )
    return Decision(Disposition.CASE, f"not acknowledged: {m.loop_reason}", m.case)


def acknowledge(m: Deciding) -> Decision | None:
    """Tell the requester the case exists and when to expect an answer, at most
    `ack_limit_per_sender_per_day` times a day per sender, so a loop cannot farm letters."""
    assert m.case is not None, "acknowledge runs after open_case"
    return Decision(Disposition.CASE, None, m.case, _acknowledged(m, m.case))


def _acknowledged(m: Deciding, case: Case) -> bool:
    if not m.msg.sender_email:
        return False
    limit = m.tools.policy.ack_limit_per_sender_per_day
    recent = m.session.execute(
        sa.select(sa.func.count())
        .select_from(Outbound)
        .where(
            Outbound.purpose == "acknowledgement",
            Outbound.recipient == m.msg.sender_email,
            Outbound.created_at >= m.now - timedelta(days=1),
        )
    ).scalar_one()
    if recent >= limit:
        service.record_event(
            m.session,
            action="acknowledgement_suppressed",
            at=m.now,
            case_id=case.id,
            detail={"reason": f"more than {limit} acknowledgements to this sender in 24 h"},
        )
        return False
    message_id = m.tools.letters.acknowledge(m.session, case, m.now)
    service.record_event(
        m.session,
        action="acknowledgement_queued",
        at=m.now,
        case_id=case.id,
        detail={"message_id": message_id, "language": case.language},
    )
    return True


STEPS: tuple[Step, ...] = (
    duplicate,
    unparseable,
    automatic,
    threaded_reply,
    classify,
    open_case,
    acknowledge,
)


def decide(m: Deciding, steps: tuple[Step, ...] = STEPS) -> Decision:
    """Run the steps until one decides. The last step always decides."""
    for step in steps:
        decision = step(m)
        if decision is not None:
            return decision
    raise AssertionError("no intake step decided")  # acknowledge always decides
