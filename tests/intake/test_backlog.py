"""A backlog through the real `dsr-bot run --once`: everything decided is also sent, and a
kill inside a batch or inside an outbox drain neither loses nor doubles a letter."""

from __future__ import annotations

import re
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.classify.test_classify_worker import gone
from tests.fixtures.bot import MAIL_FROM, Bot


def request(i: int) -> bytes:
    """A plain access request from its own sender (the per-sender ack limit stays out of it)."""
    msg = EmailMessage()
    msg["From"] = f"Person {i} <person{i}@backlog.example>"
    msg["To"] = MAIL_FROM
    msg["Subject"] = "Subject access request"
    msg["Message-ID"] = make_msgid(domain="backlog.example")
    msg.set_content(
        "Under Article 15 GDPR please send me a copy of all personal data you hold about me."
    )
    return msg.as_bytes()


def append_many(mailbox, count: int) -> None:  # type: ignore[no-untyped-def]
    client = mailbox.client()
    try:
        for i in range(count):
            client.append("INBOX", request(i))
    finally:
        client.logout()


def acknowledged(smtp_sink) -> Counter[str]:  # type: ignore[no-untyped-def]
    with smtp_sink.lock:
        return Counter(r.rcpt_tos[0] for r in smtp_sink.received)


def test_run_once_sends_every_acknowledgement_of_a_backlog_of_1600(mailbox, smtp_sink, bot: Bot):
    # Before: three outbox passes of 500, then exit 0 with the rest unsent.
    append_many(mailbox, 1600)
    # 1,600 distinct requesters in one hour: above the default hourly acknowledgement cap,
    # which guards against forged-From floods (tests/intake/test_hostile_input.py).
    done = bot.cli("run", "--once", timeout=600, ack_limit_per_hour=2000)
    assert "fetched 1600, processed 1600" in done.stderr
    sent = acknowledged(smtp_sink)
    assert len(sent) == 1600
    assert set(sent.values()) == {1}
    assert mailbox.uids("INBOX") == []


def test_run_once_drains_pass_after_pass_until_nothing_is_due(mailbox, smtp_sink, bot: Bot):
    append_many(mailbox, 70)
    bot.cli("run", "--once", outbox_batch=10)
    sent = acknowledged(smtp_sink)
    assert len(sent) == 70 and set(sent.values()) == {1}
    # Every acknowledgement's Sent-folder copy went out in the same run.
    assert len(mailbox.uids("Sent")) == 70


@pytest.mark.parametrize("crash_at", ["decide", "drain", "sent"])
def test_kill_inside_a_batch_or_a_drain_loses_and_doubles_nothing(
    mailbox, smtp_sink, bot: Bot, crash_at: str
):
    append_many(mailbox, 6)
    # "decide": after the first message, inside the batch's one transaction (all six).
    # "drain": one item per outbox pass, so it dies with one acknowledgement sent and marked
    # and the others due but not leased. "sent": one pass for all, so it dies with one sent
    # and marked and five still leased to the dead process, which the next run takes back.
    batch = 1 if crash_at == "drain" else 50
    crashed = bot.cli("run", "--once", check=False, crash_after=crash_at, outbox_batch=batch)
    assert crashed.returncode == 70, crashed.stderr
    before = acknowledged(smtp_sink)
    if crash_at == "decide":
        # Died inside the batch's transaction: nothing of it was committed, nothing sent.
        assert before == Counter()
        assert bot.json("cases", "list") == []
    else:
        assert sum(before.values()) == 1
        assert len(bot.json("cases", "list")) == 6
    assert len(mailbox.uids("INBOX")) == 6  # not moved: the cycle died first

    bot.cli("run", "--once")
    bot.cli("run", "--once")
    sent = acknowledged(smtp_sink)
    assert len(sent) == 6 and set(sent.values()) == {1}
    assert len(bot.json("cases", "list")) == 6
    assert mailbox.uids("INBOX") == []


def worker_pid(stderr: str) -> int:
    found = re.search(r"classifier worker started \(pid (\d+)\)", stderr)
    assert found, "no classifier worker was started"
    return int(found.group(1))


def test_with_the_classifier_in_a_worker_a_backlog_is_decided_and_sent_once(
    mailbox, smtp_sink, bot: Bot
):
    # 450: three batches of 200 and a part; all but the first are classified ahead, in the
    # worker, while the batch before them is decided.
    append_many(mailbox, 450)
    done = bot.cli("run", "--once", classifier_process=True, ack_limit_per_hour=1000)
    assert "fetched 450, processed 450" in done.stderr
    sent = acknowledged(smtp_sink)
    assert len(sent) == 450 and set(sent.values()) == {1}
    cases = bot.json("cases", "list")
    assert len(cases) == 450
    assert {tuple(case["types"]) for case in cases} == {("access",)}
    assert gone(worker_pid(done.stderr))  # it ends with the bot


def test_a_kill_with_the_classifier_in_a_worker_leaves_no_worker_behind(
    mailbox, smtp_sink, bot: Bot
):
    append_many(mailbox, 6)
    crashed = bot.cli("run", "--once", check=False, crash_after="decide", classifier_process=True)
    assert crashed.returncode == 70, crashed.stderr
    # The bot died as under kill -9: the worker sees its pipe close and ends as well.
    assert gone(worker_pid(crashed.stderr))
    assert acknowledged(smtp_sink) == Counter() and bot.json("cases", "list") == []

    bot.cli("run", "--once", classifier_process=True)
    sent = acknowledged(smtp_sink)
    assert len(sent) == 6 and set(sent.values()) == {1}
    assert len(bot.json("cases", "list")) == 6
