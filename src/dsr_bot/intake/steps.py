"""The steps that decide one inbound message, in order. Each decides or passes on.

Like Mailman's rules and chains (or bolt-python's middleware): a step looks at the message
being decided and either returns a `Decision` — the message is settled, later steps do not
run — or None to pass it to the next step. The order is the policy:

1. `duplicate`: the same mail seen before (another UID, a resend) gets the first copy's fate;
2. `unparseable`: mail we cannot read (or that blew the parse budget) goes to a person;
3. `automatic`: bounces and out-of-office replies answer something, they never ask;
4. `threaded_reply`: a reply on a known case joins that case (RFC 5322 3.6.4 threading);
5. `too_large`: mail cut at DSR_BOT_MAX_MESSAGE_BYTES goes to a person, unread by machines;
6. `classify`: the model scores the rights the writer exercises (it never decides alone);
7. `follow_up`: a reminder or a question about the process joins the open case it chases;
8. `not_a_request`: no right exercised: not a request, or a person looks when unsure;
9. `open_case`: a request opens a case with its Art. 12(3) deadline; a marketing opt-out
   goes on the suppression list in the same transaction (Art. 21(3): at once);
10. `acknowledge`: the requester is told, unless that would answer a machine, the address
    cannot take a reply, or the per-sender or hourly limit is reached.

Steps write only to the caller's session: the pipeline commits the decision, its audit
events and its outbox rows together (see pipeline.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from dsr_bot import metrics
from dsr_bot.cases import service
from dsr_bot.cases.model import OPEN_STATUSES, CaseStatus, Classification, Disposition
from dsr_bot.cases.ports import LetterPort
from dsr_bot.classify.base import Classifier
from dsr_bot.fulfilment.suppression import stop_marketing_at_once
from dsr_bot.intake.follow_ups import note_classification, route_follow_up
from dsr_bot.intake.matching import thread_to_case
from dsr_bot.mail.address import limit_key, reply_address
from dsr_bot.mail.loops import auto_reply_reason, is_automatic_response
from dsr_bot.mail.parse import ParsedMessage, sniff_identity
from dsr_bot.store import repositories
from dsr_bot.store.tables import Case, InboundMessage

log = logging.getLogger(__name__)

NOT_A_REQUEST = "classified as not a request"
# The budget for one parse on the reference machine; a parse that takes longer is parked for
# review with the time it took (the header and structure budgets in mail/parse.py make this
# a backstop, not the rule).
PARSE_BUDGET_SECONDS = 2.0


@dataclass(frozen=True)
class IntakePolicy:
    case_policy: service.CasePolicy
    mail_from: str
    from_name: str
    own_addresses: frozenset[str]
    ack_limit_per_sender_per_day: int = 3
    ack_limit_per_hour: int = 200


@dataclass(frozen=True)
class Decision:
    """What a step settled: the message's disposition, why, and the case it belongs to."""

    disposition: Disposition
    reason: str | None = None
    case: Case | None = None
    acknowledged: bool = False


class Tools(Protocol):
    """What the steps use besides the session: the classifier, letters, the policy, and the
    listeners to tell when the hourly acknowledgement cap is reached."""

    listeners: list[Any]

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
    parse_seconds: float = 0.0
    loop_reason: str | None = None
    result: Classification | None = None
    case: Case | None = None
    batch: BatchMemo | None = field(default=None, repr=False)
    _thread: tuple[Case, str] | None = field(default=None, repr=False)
    _threaded: bool = field(default=False, repr=False)

    def thread(self) -> tuple[Case, str] | None:
        """The case this message replies to and how it matched (looked up once)."""
        if not self._threaded:
            self._thread = thread_to_case(self.session, self.msg)
            self._threaded = True
        return self._thread


Step = Callable[[Deciding], Decision | None]


@dataclass
class BatchMemo:
    """What each message of a batch would otherwise ask the database again, read once per
    batch (one query each) and kept current in memory while the batch is decided.

    - earlier copies of the batch's messages (same digest, or same Message-ID and sender),
      from the database and from the batch's own earlier messages;
    - acknowledgements in the last hour (the hourly cap) and in the last day per sender
      (the per-sender limit), counted up as the batch queues its own.

    Everything here is within the batch's one transaction, so the counts are those a
    row-by-row read would see, except for letters another process queues meanwhile (a
    staff-opened case's acknowledgement): the limits are guards against forged-From floods,
    and one batch of lag on them does not change that. A message whose savepoint rolls back
    after its acknowledgement was counted leaves the count one too high: the guard errs
    towards caution.
    """

    acks_last_hour: int = 0
    acks_by_sender: dict[str, int] = field(default_factory=dict)
    # The oldest decided message per digest and per (Message-ID, sender).
    _by_digest: dict[str, InboundMessage] = field(default_factory=dict)
    _by_message_id: dict[tuple[str, str | None], InboundMessage] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        session: Session,
        now: datetime,
        sha256s: Sequence[str],
        message_ids: Sequence[str | None],
        senders: Sequence[str | None],
    ) -> BatchMemo:
        memo = cls(
            acks_last_hour=repositories.acknowledgements_since(session, now - timedelta(hours=1)),
            acks_by_sender=repositories.acknowledgements_by_sender_since(
                session, now - timedelta(days=1), [limit_key(s) for s in senders if s]
            ),
        )
        for copy in repositories.decided_copies(
            session, sha256s, [mid for mid in message_ids if mid]
        ):
            memo.decided(copy)
        return memo

    def earlier_copy(self, row: InboundMessage) -> InboundMessage | None:
        """The oldest decided message (in the database or earlier in this batch) with the
        same bytes, or the same Message-ID from the same sender."""
        same = [self._by_digest.get(row.raw_sha256)]
        if row.message_id:
            same.append(self._by_message_id.get((row.message_id, row.sender)))
        found = [c for c in same if c is not None and c.id != row.id]
        return min(found, key=lambda c: c.id) if found else None

    def decided(self, row: InboundMessage) -> None:
        """`row` is decided: a later copy finds it (the oldest one is kept per key)."""
        keys: list[tuple[dict[Any, InboundMessage], Any]] = [(self._by_digest, row.raw_sha256)]
        if row.message_id:
            keys.append((self._by_message_id, (row.message_id, row.sender)))
        for index, key in keys:
            kept = index.get(key)
            if kept is None or row.id < kept.id:
                index[key] = row

    def acknowledged(self, sender: str) -> None:
        self.acks_last_hour += 1
        key = limit_key(sender)
        self.acks_by_sender[key] = self.acks_by_sender.get(key, 0) + 1


def memo(m: Deciding) -> BatchMemo:
    """The batch's memo; a message decided on its own (tests, a single decide) reads one."""
    if m.batch is None:
        m.batch = BatchMemo.load(
            m.session, m.now, [m.row.raw_sha256], [m.row.message_id], [m.row.sender]
        )
    return m.batch


def duplicate(m: Deciding) -> Decision | None:
    """A copy of a message decided before: same fate, never a second case or answer."""
    first = memo(m).earlier_copy(m.row)
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
    """Mail we could not read, or could not read within budget, is shown to a person, with
    the parser's warnings and whatever identity the header block gives away."""
    if not m.msg.ok:
        keep_identity(m.row)
        return Decision(Disposition.NEEDS_REVIEW, "unparseable: " + "; ".join(m.msg.warnings)[:500])
    if m.parse_seconds > PARSE_BUDGET_SECONDS:
        return Decision(
            Disposition.NEEDS_REVIEW,
            f"over the parse budget: {m.parse_seconds:.1f} s (limit {PARSE_BUDGET_SECONDS} s)",
        )
    return None


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


def too_large(m: Deciding) -> Decision | None:
    """README: a message over DSR_BOT_MAX_MESSAGE_BYTES is flagged for review. Only its start
    is stored, so neither the classifier nor an automatic answer may act on it."""
    if not m.row.truncated:
        return None
    return Decision(
        Disposition.NEEDS_REVIEW,
        f"larger than DSR_BOT_MAX_MESSAGE_BYTES ({m.row.size} bytes): only the start was "
        "stored; read the original on the mail server",
    )


def classifier_input(msg: ParsedMessage) -> tuple[str, str]:
    """(subject, text) the classifier sees. A bare forward has no new text of its own; then
    the forwarded text is all we have. The pipeline classifies a batch ahead with these."""
    return msg.subject, msg.new_text.strip() or msg.text


def classify(m: Deciding) -> Decision | None:
    """Which rights the writer exercises, with scores; what to do with them is for later."""
    # Timed by the pipeline's BatchClassifier (metrics.classification_seconds).
    result = m.tools.classifier.classify(*classifier_input(m.msg))
    m.result = result
    m.row.language = result.language
    m.row.labels = [str(label) for label in result.labels]
    m.row.scores = result.scores
    return None


def follow_up(m: Deciding) -> Decision | None:
    """ "On 27 January I asked for … and have had no reply": the request it chases, not a new
    one. It joins the open case it names or its sender's open case (see follow_ups.py); a
    question about the process with no open case goes to a person."""
    assert m.result is not None, "follow_up runs after classify"
    routed = route_follow_up(
        m.session,
        m.result,
        sender=m.msg.sender_email,
        text=m.msg.new_text,
        inbound_id=m.row.id,
        received_at=m.row.received_at,
        now=m.now,
    )
    if routed is None:
        return None
    return Decision(routed.disposition, routed.reason, routed.case)


def not_a_request(m: Deciding) -> Decision | None:
    """No right exercised: not a request, or, when the model was unsure, a person decides."""
    assert m.result is not None, "not_a_request runs after classify"
    if m.result.is_request:
        return None
    if m.result.needs_review:
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
    # What the card must flag: a follow-up of a request we have no record of (its claimed
    # date may have started the clock), or rights the model was unsure of.
    note_classification(m.session, m.case, m.result, inbound_id=m.row.id, now=m.now)
    # Art. 21(3): an opt-out stops marketing at once, in this transaction, no ID check.
    stop_marketing_at_once(m.session, m.case, m.now)
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
    """Tell the requester the case exists and when to expect an answer.

    Never fails the decision: the case is what Art. 12(3) requires, the acknowledgement a
    courtesy. When none can be composed (no valid reply address) or may be sent (the
    per-sender or hourly limit, so that a forged From cannot farm letters), the row and the
    card say why.
    """
    case = m.case
    assert case is not None, "acknowledge runs after open_case"
    why_not = _ack_refusal(m)
    if why_not is None:
        try:
            # No savepoint needed: a letter is rendered and composed (where a bad address or
            # template raises) before anything of it is written (replies/letters.py).
            message_id = m.tools.letters.acknowledge(m.session, case, m.now)
        except ValueError as exc:  # the address or a template: the case still stands
            log.warning("case %s: acknowledgement not composed (%s)", case.ref, type(exc).__name__)
            why_not = "no valid reply address" if "address" in str(exc) else "could not be composed"
        else:
            memo(m).acknowledged(m.msg.sender_email or "")
            service.record_event(
                m.session,
                action="acknowledgement_queued",
                at=m.now,
                case_id=case.id,
                detail={"message_id": message_id, "language": case.language},
            )
            return Decision(Disposition.CASE, None, case, True)
    service.record_event(
        m.session,
        action="acknowledgement_suppressed",
        at=m.now,
        case_id=case.id,
        detail={"reason": why_not},
    )
    return Decision(Disposition.CASE, f"not acknowledged: {why_not}", case, False)


def _ack_refusal(m: Deciding) -> str | None:
    sender = m.msg.sender_email
    if not sender:
        return "no sender"
    try:
        reply_address(sender)
    except ValueError as exc:
        return str(exc)  # "no valid reply address" (e.g. anna@localhost, a quoted part)
    policy = m.tools.policy
    seen = memo(m)
    if seen.acks_last_hour >= policy.ack_limit_per_hour:
        metrics.acknowledgement_capped()
        for listener in m.tools.listeners:
            capped = getattr(listener, "acknowledgements_capped", None)
            if capped is not None:
                capped(m.session, policy.ack_limit_per_hour, m.now)
        return f"more than {policy.ack_limit_per_hour} acknowledgements in the last hour"
    # Per sender, on the normalised address: Name+1@x.se and name+2@X.se are one sender.
    limit = policy.ack_limit_per_sender_per_day
    if seen.acks_by_sender.get(limit_key(sender), 0) >= limit:
        return f"more than {limit} acknowledgements to this sender in 24 h"
    return None


def keep_identity(row: InboundMessage) -> None:
    """A parked row is never anonymous: what the header block says, read by hand, fills what
    the parser could not."""
    message_id, sender, sender_name, subject = sniff_identity(row.raw or b"")
    row.message_id = row.message_id or message_id
    row.sender = row.sender or sender
    row.sender_name = row.sender_name or sender_name
    row.subject = row.subject or subject


STEPS: tuple[Step, ...] = (
    duplicate,
    unparseable,
    automatic,
    threaded_reply,
    too_large,
    classify,
    follow_up,
    not_a_request,
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
