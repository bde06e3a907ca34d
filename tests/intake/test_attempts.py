"""Attempts are counted before the work, so a poison message cannot crash-loop intake; a
lease whose holder died is taken back at once (issue 13). SQLite and PostgreSQL, real SMTP."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from dsr_bot import outbox
from dsr_bot.mail.smtp import SmtpTransport
from dsr_bot.store.tables import InboundMessage, Outbound
from tests.fixtures.app import offline_app
from tests.fixtures.smtp import SmtpSink
from tests.intake.test_intake_e2e import EN_ACCESS, LATIN1, SV_ERASURE


def test_attempt_is_counted_before_the_work(database_url: str, tmp_path: Path) -> None:
    app = offline_app(database_url, tmp_path)
    now = datetime.now(UTC)
    first = app.intake.store_raw(mailbox="t", uidvalidity=1, uid=1, raw=SV_ERASURE, received_at=now)
    app.intake.process_batch([first])
    with app.factory() as session:
        row = session.get_one(InboundMessage, first)
        assert row.attempts == 1 and row.disposition == "case"


def test_a_message_that_killed_three_runs_is_quarantined_with_its_identity(
    database_url: str, tmp_path: Path
) -> None:
    app = offline_app(database_url, tmp_path)
    now = datetime.now(UTC)
    poison = app.intake.store_raw(
        mailbox="t", uidvalidity=1, uid=1, raw=SV_ERASURE, received_at=now
    )
    fine = app.intake.store_raw(mailbox="t", uidvalidity=1, uid=2, raw=EN_ACCESS, received_at=now)
    # The state three crashes mid-decision leave behind: counted, committed, never decided.
    with app.factory() as session, session.begin():
        session.get_one(InboundMessage, poison).attempts = 3
    outcomes = {o.inbound_id: o for o in app.intake.process_batch([poison, fine])}
    assert outcomes[poison].disposition.value == "needs_review"
    assert outcomes[fine].disposition.value == "case"
    with app.factory() as session:
        row = session.get_one(InboundMessage, poison)
        assert row.disposition_reason is not None and "quarantined" in row.disposition_reason
        assert row.sender == "karin.lind@example.se" and row.message_id
        assert row.subject == "Radera mina uppgifter" and row.case_id is None


def test_a_message_tried_before_is_decided_alone(database_url: str, tmp_path: Path) -> None:
    app = offline_app(database_url, tmp_path)
    now = datetime.now(UTC)
    ids = [
        app.intake.store_raw(mailbox="t", uidvalidity=1, uid=n, raw=raw, received_at=now)
        for n, raw in enumerate((SV_ERASURE, EN_ACCESS), 1)
    ]
    with app.factory() as session, session.begin():
        session.get_one(InboundMessage, ids[0]).attempts = 1  # a crash in the last batch
    app.intake.process_batch(ids)
    with app.factory() as session:
        attempts = [session.get_one(InboundMessage, i).attempts for i in ids]
    assert attempts == [2, 1]


def _dead_holder() -> str:
    """The lease-holder id of a process that ran on this host and has exited."""
    code = "from dsr_bot.outbox import holder_id; print(holder_id())"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_an_ack_stuck_in_sending_after_a_crash_is_sent_by_the_next_run(
    database_url: str, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    app = offline_app(
        database_url, tmp_path, mail_outbox_dir=None, **smtp_sink.settings_overrides()
    )
    now = datetime.now(UTC)
    inbound = app.intake.store_raw(
        mailbox="t", uidvalidity=1, uid=1, raw=SV_ERASURE, received_at=now
    )
    app.intake.process_batch([inbound])
    with app.factory() as session, session.begin():
        [ack] = session.scalars(sa.select(Outbound).where(Outbound.purpose == "acknowledgement"))
        ack.status, ack.claimed_until = outbox.SENDING, now + timedelta(minutes=5)
        ack.claimed_by = _dead_holder()
        ack_id = ack.id
    transports = {"mail": SmtpTransport(app.settings)}
    assert outbox.Outbox(app.factory, transports, clock=app.clock).drain().sent == 1
    smtp_sink.wait_for(1)
    with app.factory() as session, session.begin():
        ack = session.get_one(Outbound, ack_id)
        assert ack.status == outbox.SENT
        # The same state held by a live process is left alone until its lease runs out.
        code = "from dsr_bot.outbox import holder_id; print(holder_id(), flush=True); input()"
        live = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert live.stdout is not None
        ack.status, ack.claimed_until = outbox.SENDING, now + timedelta(minutes=5)
        ack.claimed_by = live.stdout.readline().strip()
    try:
        assert not outbox.holder_dead(ack.claimed_by)
        assert outbox.Outbox(app.factory, transports, clock=app.clock).drain().sent == 0
    finally:
        live.communicate("\n", timeout=10)
    assert outbox.holder_dead(ack.claimed_by)  # and once it has exited, it is taken back
    assert outbox.Outbox(app.factory, transports, clock=app.clock).drain().sent == 1


def test_an_unparseable_message_keeps_its_identity(database_url: str, tmp_path: Path) -> None:
    app = offline_app(database_url, tmp_path)
    raw = (
        b"From: Anna <anna@x.se>\r\nSubject: Radera mina uppgifter\r\nMessage-ID: <u1@x.se>\r\n"
        b"MIME-Version: 1.0\r\n"
        + b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n' % n for n in range(150))
        + b"\r\n"
        + b"".join(b"--b%d\r\nContent-Type: multipart/mixed\r\n\r\n" % n for n in range(150))
    )
    inbound = app.intake.store_raw(
        mailbox="t", uidvalidity=1, uid=1, raw=raw, received_at=datetime.now(UTC)
    )
    [outcome] = app.intake.process_batch([inbound])
    assert outcome.disposition.value == "needs_review"
    with app.factory() as session:
        row = session.get_one(InboundMessage, inbound)
        assert (row.message_id, row.sender, row.subject) == (
            "<u1@x.se>",
            "anna@x.se",
            "Radera mina uppgifter",
        )


def test_hourly_cap_is_counted_and_told_to_slack_once(database_url: str, tmp_path: Path) -> None:
    from dsr_bot import metrics
    from dsr_bot.slack.listener import SlackNotifier

    app = offline_app(database_url, tmp_path, ack_limit_per_hour=1)
    app.intake.listeners.append(SlackNotifier("C0PRIVACY"))
    before = metrics.ACKNOWLEDGEMENTS_CAPPED._value.get()
    now = datetime.now(UTC)
    ids = [
        app.intake.store_raw(mailbox="t", uidvalidity=1, uid=n, raw=raw, received_at=now)
        for n, raw in enumerate((SV_ERASURE, EN_ACCESS, LATIN1), 1)
    ]
    outcomes = app.intake.process_batch(ids)
    assert [o.acknowledged for o in outcomes] == [True, False, False]
    assert metrics.ACKNOWLEDGEMENTS_CAPPED._value.get() - before == 2
    with app.factory() as session:
        notices = session.scalars(sa.select(Outbound).where(Outbound.purpose == "notice")).all()
        assert len(notices) == 1 and "acknowledgements" in notices[0].payload["args"]["text"]


def test_the_card_says_why_no_acknowledgement_went(database_url: str, tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    from dsr_bot.slack.render import case_card_args
    from dsr_bot.store.tables import Case

    app = offline_app(database_url, tmp_path)
    raw = SV_ERASURE.replace(b"karin.lind@example.se", b"karin@localhost")
    inbound = app.intake.store_raw(
        mailbox="t", uidvalidity=1, uid=1, raw=raw, received_at=datetime.now(UTC)
    )
    [outcome] = app.intake.process_batch([inbound])
    assert outcome.disposition.value == "case" and not outcome.acknowledged
    with app.factory() as session:
        case = session.scalars(sa.select(Case)).one()
        args = case_card_args(
            session,
            case,
            now=datetime.now(UTC),
            tz=ZoneInfo("Europe/Stockholm"),
            excerpt_mode="none",
        )
    assert "Not acknowledged: no valid reply address" in str(args["blocks"])
