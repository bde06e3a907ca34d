"""Each intake step alone: what it decides, and that it passes on what is not its business.

The whole pipeline is tested end to end through Dovecot in test_intake_e2e.py; these tests
pin each step's rule to one place, with a real database (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from dsr_bot.cases import service
from dsr_bot.cases.model import Classification, Disposition, RequestType
from dsr_bot.config import load_controller_profile
from dsr_bot.intake import steps
from dsr_bot.intake.pipeline import sha256
from dsr_bot.mail.parse import parse_message
from dsr_bot.replies import ReplyRenderer
from dsr_bot.replies.letters import Letters
from dsr_bot.store.tables import Case, InboundMessage, Outbound
from tests.fixtures.bot import CONTROLLER
from tests.ops_support import open_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWN = "personuppgiftsansvarig@micromedic.se"
POLICY = steps.IntakePolicy(
    case_policy=service.CasePolicy(),
    mail_from=OWN,
    from_name="Micromedic AB",
    own_addresses=frozenset({OWN}),
    ack_limit_per_sender_per_day=2,
)


@dataclass
class FixedClassifier:
    """Says what the test tells it to, and records what it was asked."""

    result: Classification
    asked: list[str] = field(default_factory=list)

    def classify(self, subject: str, text: str) -> Classification:
        self.asked.append(text)
        return self.result


ACCESS = Classification((RequestType.ACCESS,), {"access": 0.97}, "sv")
NOTHING = Classification((), {"access": 0.02}, "sv")
UNSURE = Classification((), {"access": 0.4}, "sv", needs_review=True)


@dataclass
class Tools:
    classifier: FixedClassifier
    letters: Letters
    policy: steps.IntakePolicy = POLICY


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine, factory = open_db(database_url)
    with factory() as s, s.begin():
        yield s
    engine.dispose()


def tools(result: Classification = ACCESS) -> Tools:
    controller = load_controller_profile(CONTROLLER)
    return Tools(FixedClassifier(result), Letters(ReplyRenderer(controller), OWN, "Micromedic AB"))


def mail(
    body: str = "Hej! Jag vill få ut alla uppgifter ni har om mig.",
    *,
    sender: str = "anna@example.se",
    subject: str = "Registerutdrag",
    headers: str = "",
    message_id: str = "<m1@example.se>",
) -> bytes:
    return (
        f"From: Anna <{sender}>\r\nTo: {OWN}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


_uid = iter(range(1, 10_000))


def deciding(session: Session, raw: bytes, t: Tools | None = None) -> steps.Deciding:
    msg = parse_message(raw)
    row = InboundMessage(
        mailbox="INBOX",
        uidvalidity=1,
        uid=next(_uid),
        raw=raw,
        raw_sha256=sha256(raw),
        size=len(raw),
        truncated=False,
        received_at=NOW,
        stored_at=NOW,
        imap_done=False,
        message_id=msg.message_id,
        sender=msg.sender_email,
        subject=msg.subject,
    )
    session.add(row)
    session.flush()
    return steps.Deciding(session, row, msg, NOW, t or tools())


def test_duplicate_gives_a_copy_the_first_copys_fate(session: Session) -> None:
    first = deciding(session, mail())
    assert steps.duplicate(first) is None  # nothing seen before: pass on
    decided = steps.decide(first)
    first.row.processed_at, first.row.disposition = NOW, decided.disposition.value
    first.row.case_id = decided.case.id if decided.case else None
    session.flush()

    again = deciding(session, mail())
    decision = steps.duplicate(again)
    assert decision is not None
    assert decision.disposition is Disposition.CASE
    assert decision.case is not None and decision.case.id == first.row.case_id
    assert decision.reason == f"duplicate of inbound {first.row.id}"


def test_unparseable_goes_to_a_person_and_readable_mail_passes(session: Session) -> None:
    assert steps.unparseable(deciding(session, mail())) is None
    broken = deciding(session, b"\x00\xff not a mail at all")
    decision = steps.unparseable(broken)
    assert decision is not None and decision.disposition is Disposition.NEEDS_REVIEW
    assert decision.reason is not None and decision.reason.startswith("unparseable: no From")


def test_automatic_replies_are_not_requests_but_other_machine_mail_passes(
    session: Session,
) -> None:
    bounce = deciding(session, mail(headers="Auto-Submitted: auto-replied\r\n"))
    decision = steps.automatic(bounce)
    assert decision is not None and decision.disposition is Disposition.NOT_REQUEST

    listed = deciding(session, mail(sender="noreply@forms.example.se", message_id="<m2@x>"))
    assert steps.automatic(listed) is None
    assert listed.loop_reason is not None  # kept, so open_case withholds the answer

    person = deciding(session, mail(message_id="<m3@x>"))
    assert steps.automatic(person) is None and person.loop_reason is None


def _open(session: Session, email: str = "anna@example.se") -> Case:
    return service.open_case(
        session,
        policy=POLICY.case_policy,
        now=NOW,
        received_at=NOW,
        types=[RequestType.ACCESS],
        requester_email=email,
        requester_name="Anna",
        language="sv",
        request_subject="Registerutdrag",
    )


def test_threaded_reply_joins_an_open_case_and_sends_a_closed_one_to_a_person(
    session: Session,
) -> None:
    case = _open(session)
    session.flush()
    reply = deciding(session, mail("Här är mitt ID.", subject=f"Re: [{case.ref}]"))
    decision = steps.threaded_reply(reply)
    assert decision is not None and decision.disposition is Disposition.REPLY
    assert decision.case is case

    service.change_status(session, case, service.CaseStatus.REJECTED, now=NOW, actor="test")
    late = deciding(session, mail("Tack!", subject=f"Re: [{case.ref}]", message_id="<m4@x>"))
    decision = steps.threaded_reply(late)
    assert decision is not None and decision.disposition is Disposition.NEEDS_REVIEW

    fresh = deciding(session, mail(message_id="<m5@x>"))
    assert steps.threaded_reply(fresh) is None


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (ACCESS, None),
        (NOTHING, Disposition.NOT_REQUEST),
        (UNSURE, Disposition.NEEDS_REVIEW),
    ],
)
def test_not_a_request_passes_requests_on_and_settles_the_rest(
    session: Session, result: Classification, expected: Disposition | None
) -> None:
    m = deciding(session, mail(), tools(result))
    assert steps.classify(m) is None  # classify records, never decides
    assert m.row.language == "sv" and m.result is result
    decision = steps.not_a_request(m)
    assert (decision.disposition if decision else None) is expected


def test_open_case_opens_with_a_deadline_and_withholds_the_answer_to_machines(
    session: Session,
) -> None:
    m = deciding(session, mail())
    m.result = ACCESS
    assert steps.open_case(m) is None
    assert m.case is not None and m.case.due_on is not None and m.case.types == ["access"]

    machine = deciding(session, mail(sender="noreply@forms.example.se", message_id="<m6@x>"))
    machine.result, machine.loop_reason = ACCESS, "no-reply sender"
    decision = steps.open_case(machine)
    assert decision is not None and decision.disposition is Disposition.CASE
    assert decision.reason == "not acknowledged: no-reply sender"


def test_acknowledge_queues_one_letter_and_stops_at_the_daily_limit(session: Session) -> None:
    acknowledged = []
    for n in range(3):
        m = deciding(session, mail(message_id=f"<a{n}@x>"))
        m.case = _open(session)
        session.flush()
        decision = steps.acknowledge(m)
        assert decision is not None and decision.disposition is Disposition.CASE
        acknowledged.append(decision.acknowledged)
        session.flush()
    assert acknowledged == [True, True, False]  # POLICY allows two a day per sender
    letters = session.query(Outbound).filter(Outbound.purpose == "acknowledgement").all()
    assert len(letters) == 2


def test_the_order_of_the_steps_is_the_policy() -> None:
    assert [s.__name__ for s in steps.STEPS] == [
        "duplicate",
        "unparseable",
        "automatic",
        "threaded_reply",
        "too_large",
        "classify",
        "follow_up",
        "not_a_request",
        "open_case",
        "acknowledge",
    ]
