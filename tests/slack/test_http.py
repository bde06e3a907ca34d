"""HTTP mode at the wire: signed interactions POSTed to /slack/events, Web API calls recorded.

No IMAP here: mail enters through intake's own entry points (store, process), as the
watcher would hand it over, so these tests stay fast; test_slack_e2e covers the mailbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest

from dsr_bot.bootstrap import App
from dsr_bot.cases.model import Classification, RequestType
from dsr_bot.slack.runtime import SlackRuntime
from tests.fixtures.bot import MAIL_FROM
from tests.fixtures.slack_api import FakeSlack
from tests.fixtures.slack_app import (
    APPROVER,
    COLLEAGUE,
    GROUP_MEMBER,
    SIGNING_SECRET,
    audit,
    free_port,
    only_case,
    settle,
    slack_settings,
    start_bot,
)
from tests.fixtures.slack_payloads import (
    block_action,
    home_opened,
    post_body,
    post_signed,
    slash_command,
)


class KeywordClassifier:
    """Classification is not under test here: "radera" means erasure, anything else not."""

    def classify(self, subject: str, text: str) -> Classification:
        if "radera" in f"{subject} {text}".lower():
            return Classification((RequestType.ERASURE,), {"erasure": 0.9}, "sv")
        return Classification((), {"erasure": 0.3}, "sv", needs_review=True)


def request_mail(subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Karin Lind <karin.lind@example.se>"
    msg["To"] = MAIL_FROM
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.se")
    msg.set_content(body)
    return msg.as_bytes()


def receive(app: App, raw: bytes, uid: int) -> None:
    inbound_id = app.intake.store_raw(
        mailbox="test", uidvalidity=1, uid=uid, raw=raw, received_at=datetime.now(UTC)
    )
    assert inbound_id is not None
    app.intake.process(inbound_id)


@pytest.fixture
def bot(slack_api: FakeSlack, database_url: str) -> Iterator[tuple[App, SlackRuntime, str]]:
    port = free_port()
    settings = slack_settings(
        slack_api,
        database_url,
        slack_mode="http",
        slack_http_port=port,
        mail_outbox_dir="/tmp/dsr-slack-http-mail",
    )
    app, runtime = start_bot(settings, classifier=KeywordClassifier())
    try:
        yield app, runtime, f"http://127.0.0.1:{port}/slack/events"
    finally:
        runtime.stop()
        app.engine.dispose()


def card_value(slack_api: FakeSlack) -> str:
    card = slack_api.wait_for("chat.postMessage", lambda c: "blocks" in c.args)
    buttons = [e for b in card.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return str(buttons[0]["value"])


def test_card_posted_and_a_non_approver_is_refused_ephemerally_and_audited(
    bot: tuple[App, SlackRuntime, str],
    slack_api: FakeSlack,
) -> None:
    app, runtime, url = bot
    receive(app, request_mail("Radera mina uppgifter", "Hej, radera allt om mig. /Karin"), 1)
    runtime.poke()
    card = slack_api.wait_for("chat.postMessage", lambda c: "blocks" in c.args)
    case = only_case(app)
    assert case.ref in json.dumps(card.args["blocks"])
    assert "radera allt om mig" in json.dumps(card.args["blocks"], ensure_ascii=False)
    assert slack_api.rejected == []
    deadline = time.monotonic() + 5
    while only_case(app).slack_ts is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (only_case(app).slack_channel, only_case(app).slack_ts) == (
        card.args["channel"],
        card.result["ts"],
    )

    started = time.monotonic()
    status, _ = post_signed(
        url, block_action(COLLEAGUE, "dsr_verify", card_value(slack_api)), SIGNING_SECRET
    )
    assert status == 200 and time.monotonic() - started < 3  # Slack's 3-second rule
    ephemeral = slack_api.wait_for("chat.postEphemeral")
    assert ephemeral.args["user"] == COLLEAGUE and "Only approvers" in ephemeral.args["text"]
    assert slack_api.calls_of("views.open") == []
    [refusal] = audit(app, "action_refused")
    assert refusal.actor == f"slack:{COLLEAGUE}" and refusal.case_id == case.id


def test_forged_and_stale_requests_get_401_and_do_nothing(
    bot: tuple[App, SlackRuntime, str],
    slack_api: FakeSlack,
) -> None:
    app, runtime, url = bot
    receive(app, request_mail("Radera mina uppgifter", "Radera allt."), 1)
    runtime.poke()
    value = card_value(slack_api)
    payload = block_action(APPROVER, "dsr_assign", value)
    assert post_signed(url, payload, "not-the-secret")[0] == 401
    assert post_signed(url, payload, SIGNING_SECRET, signature="v0=" + "0" * 64)[0] == 401
    stale = int(time.time()) - 10 * 60  # Slack: reject anything older than five minutes
    assert post_signed(url, payload, SIGNING_SECRET, timestamp=stale)[0] == 401
    settle(runtime)  # nothing Bolt accepted is still running
    assert audit(app, "assigned") == [] and only_case(app).assignee is None


def test_a_double_click_and_a_slack_retry_act_once(
    bot: tuple[App, SlackRuntime, str],
    slack_api: FakeSlack,
) -> None:
    app, runtime, url = bot
    receive(app, request_mail("Radera mina uppgifter", "Radera allt."), 1)
    runtime.poke()
    value = card_value(slack_api)
    for retry in (None, None, 1):
        payload = block_action(APPROVER, "dsr_assign", value)
        assert post_signed(url, payload, SIGNING_SECRET, retry_num=retry)[0] == 200
    settle(runtime)  # all three requests handled
    assert [e.actor for e in audit(app, "assigned")] == [f"slack:{APPROVER}"]
    update = slack_api.wait_for("chat.update", lambda c: f"<@{APPROVER}>" in json.dumps(c.args))
    assert update.args["ts"] == only_case(app).slack_ts
    thread = slack_api.wait_for("chat.postMessage", lambda c: "thread_ts" in c.args)
    assert thread.args["thread_ts"] == only_case(app).slack_ts
    assert len([c for c in slack_api.calls_of("chat.postMessage") if "thread_ts" in c.args]) == 1
    assert slack_api.calls_of("chat.postEphemeral") == []


def test_a_user_group_member_may_act_and_triage_goes_to_the_channel(
    bot: tuple[App, SlackRuntime, str],
    slack_api: FakeSlack,
) -> None:
    app, runtime, url = bot
    receive(app, request_mail("Radera mina uppgifter", "Radera allt."), 1)
    receive(app, request_mail("Fråga om er tjänst", "Vad har ni för uppgifter?"), 2)
    runtime.poke()
    post_signed(
        url, block_action(GROUP_MEMBER, "dsr_verify", card_value(slack_api)), SIGNING_SECRET
    )
    opened = slack_api.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == "dsr_verify_submit"
    assert slack_api.calls_of("usergroups.users.list")[0].args["usergroup"] == "SAPPROVERS"
    triage = slack_api.wait_for(
        "chat.postMessage", lambda c: "triage_actions" in json.dumps(c.args)
    )
    assert "Is this a request?" in json.dumps(triage.args["blocks"])
    buttons: list[dict[str, Any]] = [
        e for b in triage.args["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    dismiss = next(b for b in buttons if b["action_id"] == "dsr_triage_dismiss")
    post_signed(url, block_action(APPROVER, "dsr_triage_dismiss", dismiss["value"]), SIGNING_SECRET)
    update = slack_api.wait_for("chat.update", lambda c: "Dismissed" in json.dumps(c.args))
    assert update.args["ts"] == triage.result["ts"]
    assert [e.actor for e in audit(app, "triage_dismissed")] == [f"slack:{APPROVER}"]


def test_app_home_and_slash_command_show_cases_to_approvers_only(
    bot: tuple[App, SlackRuntime, str],
    slack_api: FakeSlack,
) -> None:
    app, _, url = bot
    receive(app, request_mail("Radera mina uppgifter", "Radera allt."), 1)
    ref = only_case(app).ref
    status, body = post_body(url, slash_command(APPROVER, "list"), SIGNING_SECRET)
    assert status == 200 and ref in body.decode()
    status, body = post_body(url, slash_command(APPROVER, f"show {ref.lower()}"), SIGNING_SECRET)
    assert status == 200 and "karin.lind@example.se" in body.decode()
    status, body = post_body(url, slash_command(COLLEAGUE, "list"), SIGNING_SECRET)
    assert status == 200 and ref not in body.decode() and "Only DSR approvers" in body.decode()

    for user in (APPROVER, COLLEAGUE):
        status, _ = post_body(
            url, home_opened(user), SIGNING_SECRET, content_type="application/json"
        )
        assert status == 200
    approver_home = slack_api.wait_for("views.publish", lambda c: c.args["user_id"] == APPROVER)
    assert ref in json.dumps(approver_home.args["view"])
    other_home = slack_api.wait_for("views.publish", lambda c: c.args["user_id"] == COLLEAGUE)
    assert ref not in json.dumps(other_home.args["view"])
