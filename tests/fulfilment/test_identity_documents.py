"""Identity documents are not kept (EDPB 01/2022 §3.3) and identity numbers never reach
Slack: the attachment stripping, its trigger at the end of a case, and the masking."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from dsr_bot.cases import service
from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.desk import Staff
from dsr_bot.config import load_controller_profile
from dsr_bot.mail.parse import mime_tree
from dsr_bot.mail.strip import without_attachments
from dsr_bot.replies import ReplyRenderer
from dsr_bot.replies.letters import Letters
from dsr_bot.slack.cards import ID_MASK, excerpt_of, mask_id_numbers
from dsr_bot.store import db
from dsr_bot.store.tables import Case, Event, InboundMessage
from tests.fixtures.bot import CONTROLLER, MAIL_FROM
from tests.intake.fuzz.hostile import HOSTILE

APPROVER = Staff("slack:UAPPROVER", approver=True)
RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mail(*, attach: bool, inline_image: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "karin.lind@example.se"
    msg["To"] = MAIL_FROM
    msg["Subject"] = "Re: [DSR-2026-0001] ID"
    msg.set_content("Här är mitt körkort.")
    if attach:
        msg.add_attachment(
            b"%PDF-1.4 korkort", maintype="application", subtype="pdf", filename="körkort.pdf"
        )
    if inline_image:
        msg.add_related(b"\x89PNG scan", maintype="image", subtype="png", cid="<scan>")
    return msg.as_bytes()


def test_stripping_keeps_the_text_and_names_what_went() -> None:
    plain = mail(attach=False)
    assert without_attachments(plain) == (plain, 0)
    stripped, removed = without_attachments(mail(attach=True))
    assert removed == 1
    parsed = message_from_bytes(stripped, policy=policy.default)
    assert [p.get_content_type() for p in parsed.walk() if not p.is_multipart()] == [
        "text/plain",
        "text/plain",
    ]
    text = stripped.decode()
    notes = [p.get_content() for p in parsed.walk() if not p.is_multipart()][1]
    assert notes.startswith("[Attachment removed after identity verification: körkort.pdf")
    assert "%PDF" not in text and "JVBERi" not in text  # raw or base64
    body = parsed.get_body(("plain",))
    assert body is not None and "Här är mitt körkort." in body.get_content()
    inline, n = without_attachments(mail(attach=False, inline_image=True))
    assert n == 1 and b"PNG scan" not in inline and b"iVBORyBzY2Fu" not in inline


@pytest.fixture
def desk(database_url: str) -> Iterator[StaffDesk]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    controller = load_controller_profile(CONTROLLER)
    letters = Letters(ReplyRenderer(controller), MAIL_FROM, controller.name)
    yield StaffDesk(
        db.session_factory(engine),
        service.CasePolicy(),
        lambda: RECEIVED + timedelta(days=1),
        letters,
        shred=without_attachments,
    )
    engine.dispose()


def test_closing_a_case_deletes_the_attachments_the_requester_sent(desk: StaffDesk) -> None:
    with desk.factory() as session, session.begin():
        case = service.open_case(
            session,
            policy=desk.policy,
            now=RECEIVED,
            received_at=RECEIVED,
            types=["access"],
            requester_email="karin.lind@example.se",
            requester_name="Karin Lind",
            language="sv",
        )
        for uid, raw in enumerate((mail(attach=False), mail(attach=True)), start=1):
            session.add(
                InboundMessage(
                    mailbox="INBOX",
                    uidvalidity=1,
                    uid=uid,
                    raw=raw,
                    raw_sha256=hashlib.sha256(raw).hexdigest(),
                    size=len(raw),
                    received_at=RECEIVED,
                    stored_at=RECEIVED,
                    case_id=case.id,
                    disposition="reply",
                )
            )
        case_id = case.id
    desk.close(APPROVER, "close-1", case_id)
    with desk.factory() as session:
        raws = (
            session.execute(sa.select(InboundMessage.raw).order_by(InboundMessage.uid))
            .scalars()
            .all()
        )
        assert raws[0] == mail(attach=False) or b"%PDF" not in raws[0]
        assert all(b"%PDF" not in r and b"JVBERi" not in r for r in raws)
        [event] = session.execute(
            sa.select(Event).where(Event.action == "identity_documents_deleted")
        ).scalars()
        assert event.detail == {"messages": 1, "attachments": 1, "reason": "case_ended"}
        assert event.actor == APPROVER.actor
        assert session.get_one(Case, case_id).id_documents_deleted_at is not None


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Mitt personnummer är 19850312-1234.", True),
        ("pnr 850312-1234", True),
        ("850312+1234 (över hundra år)", True),
        ("samordningsnummer 850372-1234", True),
        ("CPR-nr. 120385-1234", True),
        ("fødselsnummer 120385 12345", True),
        ("Ordernummer 4711-2026", False),
        ("Ring 08-22 40 20", False),
        ("Ärende DSR-2026-0042", False),
        ("Fakturanummer 123456-7890", False),
    ],
)
def test_identity_numbers_are_masked_on_cards(text: str, masked: bool) -> None:
    assert (ID_MASK in mask_id_numbers(text)) is masked
    shown = excerpt_of(text, "full") or ""
    assert (ID_MASK in shown) is masked
    if masked:
        assert "1234" not in shown


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_stripping_a_hostile_stored_mail_stays_within_the_parse_budget(shape: str) -> None:
    """The stored mail came from outside: taking it apart again at verification must cost
    what parsing it cost at intake (bounded memory, no crash), not what `policy.default`
    would (gigabytes, or minutes, on these shapes)."""
    raw = HOSTILE[shape]()
    tracemalloc.start()
    try:
        stripped, removed = without_attachments(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024 * 1024, peak
    assert removed >= 0 and stripped
    # No part that is not text survives in what is kept.
    tree, _ = mime_tree(stripped)
    assert tree is not None
    kept = [p.get_content_maintype() for p in tree.walk() if not p.is_multipart()]
    assert set(kept) <= {"text", "message"}
