"""Every pair of rights the classifier can produce gets one letter that answers both.

Through the desk the Slack handlers call (no Slack wire here: test_letter_outcomes_flow.py
drives that), with real fulfilment against the customer database (SQLite and PostgreSQL):
verify, decide the objection where there is one, tick the checklist, prepare, approve
unedited; then the queued letter is read back from the outbox and checked for each right's
own answer, in one of the four letter languages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.dialects.postgresql  # store.tables needs it loaded

from dsr_bot.cases import service
from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.desk import Staff
from dsr_bot.cases.model import ALL_REQUEST_TYPES
from dsr_bot.cases.replying import REPLY_TEMPLATES as REPLY_ORDER
from dsr_bot.config import load_controller_profile
from dsr_bot.fulfilment.approval import CaseFulfiller
from dsr_bot.fulfilment.sources import load_data_sources
from dsr_bot.replies import ReplyRenderer
from dsr_bot.replies.letters import Letters
from dsr_bot.store import db
from dsr_bot.store.tables import Case, Event, Outbound
from tests.fixtures import customer_db
from tests.fixtures.bot import CONTROLLER, MAIL_FROM
from tests.fixtures.customer_db import ANNA
from tests.fixtures.fulfilment_desk import sources_file
from tests.fulfilment.test_letter_outcomes_flow import tables
from tests.replies.test_letter_outcomes import ANSWERS

VERIFIER = Staff("slack:UVERIFIER", approver=True)
APPROVER = Staff("slack:UAPPROVER", approver=True)
PAIRS = [
    (a.value, b.value) for i, a in enumerate(ALL_REQUEST_TYPES) for b in ALL_REQUEST_TYPES[i + 1 :]
]
LANGS = ("sv", "en", "nb", "da")


@pytest.fixture
def desk(
    database_url: str,
    customer_url: str,
    tmp_path: Path,
) -> Iterator[StaffDesk]:
    customers = customer_db.build(customer_url)
    path = sources_file(tmp_path / "sources.toml", customer_url)
    path.write_text(tables(path.read_text(encoding="utf-8"), "consent = true\n"), "utf-8")
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    controller = load_controller_profile(CONTROLLER)
    letters = Letters(ReplyRenderer(controller), MAIL_FROM, controller.name)
    yield StaffDesk(
        db.session_factory(engine),
        service.CasePolicy(four_eyes=True),
        lambda: datetime.now(UTC),
        letters,
        [],
        CaseFulfiller(load_data_sources(path)),
    )
    engine.dispose()
    customers.dispose()


@pytest.mark.parametrize("pair", PAIRS, ids="+".join)
def test_every_pair_of_rights_is_answered_in_one_letter(
    desk: StaffDesk, pair: tuple[str, str]
) -> None:
    lang = LANGS[PAIRS.index(pair) % len(LANGS)]
    with desk.factory() as session, session.begin():
        case_id = service.open_case(
            session,
            policy=desk.policy,
            now=datetime.now(UTC),
            received_at=datetime.now(UTC),
            types=pair,
            requester_email=ANNA,
            requester_name="Anna Andersson",
            language=lang,
            request_message_id="<req-1@example.se>",
            request_subject="Två rättigheter",
        ).id
    desk.verify_identity(VERIFIER, "verify", case_id, "customer_record")
    if "objection" in pair:
        desk.decide_objection(APPROVER, "decide", case_id, "upheld")
    with desk.factory() as session:
        checklist = [e.source for e in desk.checklist(session.get_one(Case, case_id))]
    if checklist:
        desk.tick_checklist(APPROVER, "tick", case_id, checklist)
    draft = desk.prepare_reply(APPROVER, case_id)
    assert draft.template.split("+") == [n for t, n in REPLY_ORDER if t in pair], draft.template
    desk.approve_and_send_reply(APPROVER, "send", case_id, draft.subject, draft.text, draft.digest)
    with desk.factory() as session:
        [row] = session.execute(
            sa.select(Outbound).where(Outbound.purpose == "substantive_reply")
        ).scalars()
        [approved] = session.execute(
            sa.select(Event).where(Event.action == "reply_approved")
        ).scalars()
        mail = message_from_bytes(row.body or b"", policy=policy.default)
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for right in pair:
        assert ANSWERS[lang][right] in body, (lang, right)
    assert set(approved.detail["outcomes"]) == set(pair)
    assert "[[FILL IN" not in body
