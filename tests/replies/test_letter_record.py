"""Every letter's text is kept as the controller's record: past the raw-mail purge, for
`retention_letter_months` (5 years) after the case ended, and listed by `report --letters`.

Real pieces: intake on a stored mail, the outbox sending through the real SMTP server,
retention, and the report query, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dsr_bot.bootstrap import App, build_app
from dsr_bot.cases import service
from dsr_bot.cases.model import CaseStatus
from dsr_bot.config import load_settings
from dsr_bot.jobs.retention import RetentionPolicy, purge
from dsr_bot.reports import report
from dsr_bot.store.tables import Case, Letter, Outbound
from tests.fixtures.bot import CONTROLLER, MAIL_FROM
from tests.intake.test_intake_e2e import EN_ACCESS

RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(database_url: str, smtp_sink: Any) -> Iterator[App]:
    if not database_url.startswith("sqlite"):
        from dsr_bot.store import db

        db.upgrade(db.make_engine(database_url))
    settings = load_settings(
        database_url=database_url,
        mail_from=MAIL_FROM,
        controller_profile=CONTROLLER,
        **smtp_sink.settings_overrides(),
    )
    built = build_app(settings, clock=lambda: RECEIVED)
    try:
        yield built
    finally:
        built.engine.dispose()


def test_the_letter_text_outlives_the_raw_mail_and_goes_after_five_years(
    app: App, smtp_sink: Any
) -> None:
    inbound = app.intake.store_raw(
        mailbox="INBOX", uidvalidity=1, uid=1, raw=EN_ACCESS, received_at=RECEIVED
    )
    assert inbound is not None
    [outcome] = app.intake.process_batch([inbound])
    assert app.outbox(["mail"]).drain().sent == 1
    [sent] = smtp_sink.wait_for(1)
    sent_text = sent.message.get_body(("plain",)).get_content().replace("\r\n", "\n")

    with app.factory() as session, session.begin():
        case = session.execute(sa.select(Case)).scalar_one()
        [letter] = session.execute(sa.select(Letter)).scalars()
        assert letter.text is not None
        assert (letter.purpose, letter.channel, letter.recipient) == (
            "acknowledgement",
            "email",
            "j.smith@example.co.uk",
        )
        # What is kept is what went out, word for word.
        assert letter.text.strip() == sent_text.strip()
        assert letter.message_id == sent.message["Message-ID"]
        service.change_status(
            session, case, CaseStatus.CLOSED, now=RECEIVED + timedelta(days=3), actor="test"
        )

    [listed] = month_letters(app, 3)
    assert listed["ref"] == outcome.case_ref and listed["status"] == "sent"
    assert listed["purpose"] == "acknowledgement" and listed["kept"] is True
    assert month_letters(app, 4) == []

    policy = RetentionPolicy()  # 12 months raw, 60 months letters
    year_later = purge(app.factory, now=datetime(2027, 3, 10, tzinfo=UTC), policy=policy)
    assert year_later.raw_cases == [outcome.case_ref] and year_later.letter_cases == []
    with app.factory() as session:
        assert session.execute(sa.select(Outbound.body)).scalars().all() == [None]
        assert session.execute(sa.select(Letter.text)).scalar_one() == letter.text

    almost = purge(app.factory, now=datetime(2031, 3, 4, tzinfo=UTC), policy=policy)
    assert almost.letter_cases == []  # closed 5 March 2026: five years end 5 March 2031
    gone = purge(app.factory, now=datetime(2031, 3, 6, tzinfo=UTC), policy=policy)
    assert gone.letter_cases == [outcome.case_ref]
    with app.factory() as session:
        kept = session.execute(sa.select(Letter)).scalar_one()
        assert (kept.text, kept.html, kept.recipient, kept.subject) == (None,) * 4
        assert kept.purged_at is not None and kept.purpose == "acknowledgement"
    [row] = month_letters(app, 3)
    assert row["kept"] is False


def test_the_letter_period_is_a_setting(database_url: str) -> None:
    settings = load_settings(database_url=database_url, retention_letter_months=84)
    assert RetentionPolicy.from_settings(settings).letter_months == 84
    assert (
        RetentionPolicy.from_settings(load_settings(database_url=database_url)).letter_months == 60
    )


def month_letters(app: App, month: int) -> list[dict[str, object]]:
    with app.factory() as session:
        return report.month_letters(session, 2026, month, timezone="Europe/Stockholm")
