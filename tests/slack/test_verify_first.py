"""Prepare on an unverified case says "verify first" instead of opening a reply that Send
would refuse (Art. 12(6); issue 13). Real Dovecot and SMTP, the fake Slack at its wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dsr_bot.bootstrap import App
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.slack.runtime import SlackRuntime
from tests.fixtures.slack_api import FakeSlack
from tests.fixtures.slack_app import APPROVER, mail_bot, only_case
from tests.fixtures.slack_payloads import block_action
from tests.intake.test_intake_e2e import SV_ERASURE
from tests.slack.test_e2e import card_button, interact, wait

pytestmark = pytest.mark.slow


@pytest.fixture
def bot(
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    database_url: str,
) -> Iterator[tuple[App, SlackRuntime]]:
    with mail_bot(mailbox, smtp_sink, slack_api, database_url, pump_interval=0.2) as started:
        yield started


def test_prepare_on_an_unverified_case_says_verify_first(
    bot: tuple[App, SlackRuntime],
    mailbox: Any,
    slack_api: FakeSlack,
) -> None:
    app, _ = bot
    mailbox.append(SV_ERASURE)
    MailboxWatcher(app).run_once()
    slack_api.wait_for("chat.postMessage", lambda c: "case_actions" in json.dumps(c.args))
    wait(slack_api.connected)
    assert only_case(app).identity_status == "unverified"
    # A stale card or a replayed click: the card shows no Prepare button until verified,
    # so the click carries the value of another button of the same card.
    value = card_button(slack_api, "dsr_verify")
    interact(slack_api, block_action(APPROVER, "dsr_prepare", value))
    view = slack_api.opened_view("dsr_reply_preparing")
    assert "Verify first" in json.dumps(view)
    assert not [
        c for c in slack_api.calls_of("views.update") if "dsr_reply_submit" in json.dumps(c.args)
    ]
