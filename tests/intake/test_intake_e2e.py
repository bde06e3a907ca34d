"""Intake end to end: real Dovecot, real SMTP server, the real `dsr-bot` command, both DBs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from dsr_bot.replies.render import long_date
from tests.fixtures.bot import MAIL_FROM, Bot, stop, wait_until


def mail(
    sender: str,
    subject: str,
    body: str,
    *,
    name: str = "",
    headers: dict[str, str] | None = None,
    in_reply_to: str | None = None,
    charset: str = "utf-8",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = MAIL_FROM
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body, charset=charset)
    return msg.as_bytes()


SV_ERASURE = mail(
    "karin.lind@example.se",
    "Radera mina uppgifter",
    "Hej! Jag vill att ni raderar alla personuppgifter ni har om mig och slutar skicka "
    "nyhetsbrev. Tack, Karin",
    name="Karin Lind",
)
EN_ACCESS = mail(
    "j.smith@example.co.uk",
    "Subject access request",
    "Dear Sir or Madam, under Article 15 GDPR please send me a copy of all personal data "
    "you hold about me. Regards, John Smith",
    name="John Smith",
)
SALES = mail(
    "buyer@clinic.example.no",
    "Prisförfrågan ultraljud",
    "Hej, kan ni skicka en offert på två ultraljudsapparater till vår klinik? Mvh Per",
)
AUTO_REPLY = mail(
    "away@example.se",
    "Automatiskt svar: Radera mina uppgifter",
    "Jag är tjänstledig och läser inte min e-post.",
    headers={"Auto-Submitted": "auto-replied"},
)
BULK = mail(
    "news@vendor.example.com",
    "Unsubscribe from our newsletter",
    "Please delete my data and unsubscribe me.",
    headers={"Precedence": "bulk"},
)
DAEMON = mail(
    "MAILER-DAEMON@mx.example.net",
    "Undelivered Mail Returned to Sender",
    "Your message to radera@example.se could not be delivered.",
)
LATIN1 = mail(
    "bjorn@example.se",
    "Återkallar samtycke",
    "Jag återkallar mitt samtycke och vill inte längre få reklam från er. Björn",
    charset="iso-8859-1",
)


def by_subject(messages: list[dict]) -> dict[str, dict]:
    return {m["subject"]: m for m in messages}


def test_run_once_opens_cases_and_acknowledges_each_request_once(mailbox, smtp_sink, bot: Bot):
    for raw in (SV_ERASURE, EN_ACCESS, SALES, AUTO_REPLY, BULK, DAEMON, LATIN1):
        mailbox.append(raw)

    bot.cli("run", "--once")

    msgs = by_subject(bot.json("messages", "list"))
    assert len(msgs) == 7
    assert msgs["Radera mina uppgifter"]["disposition"] == "case"
    assert msgs["Subject access request"]["disposition"] == "case"
    assert msgs["Återkallar samtycke"]["disposition"] == "case"
    for subject in (
        "Automatiskt svar: Radera mina uppgifter",
        "Undelivered Mail Returned to Sender",
        "Prisförfrågan ultraljud",
    ):
        assert msgs[subject]["disposition"] in ("not_request", "needs_review"), subject
        assert msgs[subject]["acknowledged"] is False
    # Bulk mail that asks for erasure is still a request (a deadline runs), but RFC 3834
    # forbids answering it automatically.
    bulk = msgs["Unsubscribe from our newsletter"]
    assert (bulk["disposition"], bulk["acknowledged"]) == ("case", False)
    assert bulk["reason"] == "not acknowledged: precedence: bulk"
    cases = {c["requester"]: c for c in bot.json("cases", "list")}
    assert set(cases) == {
        "karin.lind@example.se",
        "j.smith@example.co.uk",
        "bjorn@example.se",
        "news@vendor.example.com",
    }
    del cases["news@vendor.example.com"]
    assert "erasure" in cases["karin.lind@example.se"]["types"]
    assert cases["j.smith@example.co.uk"]["types"] == ["access"]
    assert cases["j.smith@example.co.uk"]["language"] == "en"
    assert cases["karin.lind@example.se"]["language"] == "sv"

    sent = smtp_sink.wait_for(3)
    assert len(sent) == 3
    acks = {r.rcpt_tos[0]: r.message for r in sent}
    requests = {m["sender"]: m for m in msgs.values()}
    for requester, case in cases.items():
        ack = acks[requester]
        assert case["ref"] in ack["Subject"]
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["In-Reply-To"] == requests[requester]["message_id"]
        assert requests[requester]["message_id"] in ack["References"]
        assert requests[requester]["acknowledged"] is True
        body = ack.get_body(("plain",)).get_content()
        assert long_date(date.fromisoformat(case["due_at"]), case["language"]) in body
    assert (
        "Vi har tagit emot" in acks["karin.lind@example.se"].get_body(("plain",)).get_content()
        or "tagit emot" in acks["karin.lind@example.se"]["Subject"]
    )

    # Server side: nothing left in INBOX, everything in the processed folder, copies in Sent.
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("DSR/Processed")) == 7
    assert len(mailbox.fetch_all("Sent")) == 3

    # A second run changes nothing.
    before = (bot.json("messages", "list"), bot.json("cases", "list"))
    bot.cli("run", "--once")
    assert (bot.json("messages", "list"), bot.json("cases", "list")) == before
    assert len(smtp_sink.received) == 3


def test_reply_to_acknowledgement_attaches_to_case(mailbox, smtp_sink, bot: Bot):
    mailbox.append(EN_ACCESS)
    bot.cli("run", "--once")
    ack = smtp_sink.wait_for(1)[0].message
    ref = bot.json("cases", "list")[0]["ref"]

    # Reply threaded only by In-Reply-To (subject without the reference).
    mailbox.append(
        mail(
            "j.smith@example.co.uk",
            "Re: your mail",
            "Here is my passport copy.",
            in_reply_to=ack["Message-ID"],
        )
    )
    # And one that only names the reference.
    mailbox.append(
        mail(
            "j.smith@example.co.uk",
            f"Re: [{ref}] question",
            "When will I get an answer? I want my data.",
        )
    )
    bot.cli("run", "--once")

    msgs = bot.json("messages", "list")
    assert [m["disposition"] for m in msgs] == ["case", "reply", "reply"]
    assert {m["case_ref"] for m in msgs} == {ref}
    assert len(bot.json("cases", "list")) == 1
    assert len(smtp_sink.received) == 1
    trail = bot.json("cases", "show", ref)["events"]
    assert [e["action"] for e in trail].count("requester_replied") == 2


def test_loop_protection_and_rate_limit(mailbox, smtp_sink, bot: Bot):
    own = mail(MAIL_FROM, "Radera mina uppgifter", "Radera allt om mig.")
    mailbox.append(own)
    for i in range(5):
        mailbox.append(
            mail(
                "flood@example.se",
                f"Radera mig {i}",
                f"Jag vill att ni raderar mina personuppgifter nu ({i}).",
            )
        )
    bot.cli("run", "--once", ack_limit_per_sender_per_day=3)
    msgs = bot.json("messages", "list")
    assert msgs[0]["disposition"] == "not_request"
    assert msgs[0]["reason"].startswith("sender is our own")
    assert sum(1 for m in msgs if m["acknowledged"]) == 3
    assert len(smtp_sink.received) == 3
    assert len(bot.json("cases", "list")) == 5  # every request is a case, acknowledged or not


def test_same_message_twice_opens_one_case(mailbox, smtp_sink, bot: Bot):
    mailbox.append(SV_ERASURE)
    mailbox.append(SV_ERASURE)
    bot.cli("run", "--once")
    msgs = bot.json("messages", "list")
    assert len(msgs) == 2
    assert msgs[1]["duplicate_of"] == msgs[0]["id"]
    assert len(bot.json("cases", "list")) == 1
    assert len(smtp_sink.received) == 1


@pytest.mark.parametrize("crash_after", ["store", "process"])
def test_crash_mid_cycle_sends_acknowledgement_exactly_once(
    mailbox, smtp_sink, bot: Bot, crash_after: str
):
    mailbox.append(SV_ERASURE)
    mailbox.append(EN_ACCESS)
    crashed = bot.cli("run", "--once", check=False, crash_after=crash_after)
    assert crashed.returncode == 70, crashed.stderr
    assert smtp_sink.received == []
    assert len(mailbox.uids("INBOX")) == 2  # not moved: the cycle died first

    bot.cli("run", "--once")
    bot.cli("run", "--once")
    smtp_sink.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == [
        "j.smith@example.co.uk",
        "karin.lind@example.se",
    ]
    assert len(bot.json("cases", "list")) == 2
    assert mailbox.uids("INBOX") == []


def test_smtp_outage_delays_but_does_not_lose_acknowledgement(mailbox, smtp_sink, bot: Bot):
    mailbox.append(EN_ACCESS)
    smtp_sink.fail_with = "451 4.3.0 try again later"
    bot.cli("run", "--once", outbox_retry_initial=0)
    assert smtp_sink.received == []
    assert bot.json("messages", "list")[0]["acknowledged"] is False
    smtp_sink.fail_with = None
    bot.cli("run", "--once")
    assert len(smtp_sink.wait_for(1)) == 1


def test_idle_picks_up_new_mail_and_survives_dovecot_restart(dovecot, mailbox, smtp_sink, bot: Bot):
    proc = bot.start()
    try:
        mailbox.append(EN_ACCESS)
        smtp_sink.wait_for(1, timeout=30)
        dovecot.restart()
        mailbox.append(SV_ERASURE)
        smtp_sink.wait_for(2, timeout=60)
    finally:
        code, log = stop(proc)
    assert code == 0, log
    assert "reconnecting" in log
    assert len(bot.json("cases", "list")) == 2
    assert "karin.lind@example.se" not in log and "Radera" not in log
    wait_until(lambda: mailbox.uids("INBOX") == [])


WEB_FORM = mail(
    "noreply@forms.example.se",
    "Nytt formulär: Kontakt",
    "Namn: Anna Berg\nE-post: anna.berg@example.se\nMeddelande: Radera alla mina "
    "personuppgifter ur era register, tack.",
    headers={"Auto-Submitted": "auto-generated", "Reply-To": "anna.berg@example.se"},
)


def test_automatic_mail_carrying_a_request_opens_a_case_without_acknowledgement(
    mailbox, smtp_sink, bot: Bot
):
    mailbox.append(WEB_FORM)
    mailbox.append(AUTO_REPLY)  # an out-of-office is an answer, never a request
    bot.cli("run", "--once")
    msgs = by_subject(bot.json("messages", "list"))
    form = msgs["Nytt formulär: Kontakt"]
    assert form["disposition"] == "case"
    assert form["acknowledged"] is False
    assert "auto-submitted: auto-generated" in form["reason"]
    assert msgs["Automatiskt svar: Radera mina uppgifter"]["disposition"] == "not_request"
    (case,) = bot.json("cases", "list")
    assert "erasure" in case["types"]
    trail = [e["action"] for e in bot.json("cases", "show", case["ref"])["events"]]
    assert "acknowledgement_suppressed" in trail
    assert smtp_sink.received == []


def test_reply_to_a_closed_case_goes_to_a_person(mailbox, smtp_sink, bot: Bot, database_url):
    import sqlalchemy as sa

    from dsr_bot.store import db
    from dsr_bot.store.tables import Case

    mailbox.append(EN_ACCESS)
    bot.cli("run", "--once")
    ref = bot.json("cases", "list")[0]["ref"]
    engine = db.make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.update(Case).values(status="closed"))
    engine.dispose()
    mailbox.append(
        mail(
            "j.smith@example.co.uk",
            f"Re: [{ref}] one more thing",
            "Thanks. Now please also delete everything you hold on me.",
        )
    )
    bot.cli("run", "--once")
    last = bot.json("messages", "list")[-1]
    assert last["disposition"] == "needs_review"
    assert last["case_ref"] == ref
    assert "closed case" in last["reason"]
    assert len(smtp_sink.received) == 1  # only the first acknowledgement


def test_relay_refusing_our_sender_is_retried_and_a_refused_message_can_be_revived(
    mailbox, smtp_sink, bot: Bot
):
    mailbox.append(EN_ACCESS)
    smtp_sink.refuse_sender_with = "550 5.7.1 relay not permitted"
    bot.cli("run", "--once", outbox_retry_initial=0)
    (item,) = bot.json("outbox", "list")
    assert item["status"] == "pending"  # our configuration, not the message: keep trying
    smtp_sink.refuse_sender_with = None

    smtp_sink.fail_with = "554 5.6.0 message content rejected"
    bot.cli("run", "--once", outbox_retry_initial=0)
    (item,) = bot.json("outbox", "list")
    assert item["status"] == "dead" and item["case_ref"]
    assert "554" in item["last_error"]

    smtp_sink.fail_with = None
    assert "1 item(s) queued again" in bot.cli("outbox", "retry", "--all-dead").stdout
    bot.cli("run", "--once")
    assert len(smtp_sink.wait_for(1)) == 1
    assert bot.json("outbox", "list") == [
        i for i in bot.json("outbox", "list") if i["status"] != "sent"
    ]
    assert all(i["purpose"] != "acknowledgement" for i in bot.json("outbox", "list"))
