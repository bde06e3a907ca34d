"""End to end in Socket Mode: real Dovecot and SMTP, the fake Slack's Web API and WebSocket.

A staff member takes a case from card to sent reply entirely in Slack: mail arrives → card
→ *Verify identity* (modal) → *Prepare reply* (modal) → *Send* → the reply reaches the SMTP
server, threaded to the request, in the requester's language. And a Slack outage only
delays cards: intake and acknowledgements go on, and every card is posted once Slack is back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from dsr_bot.bootstrap import App
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.slack.runtime import SlackRuntime
from dsr_bot.store.tables import Outbound
from tests.fixtures.slack_api import FakeSlack
from tests.fixtures.slack_app import APPROVER, audit, mail_bot, only_case
from tests.fixtures.slack_payloads import (
    block_action,
    select_value,
    text_value,
    view_submission,
)
from tests.intake.test_intake_e2e import EN_ACCESS, SV_ERASURE

pytestmark = pytest.mark.slow


@pytest.fixture
def bot(
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    database_url: str,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[App, SlackRuntime]]:
    # The outage test drives the outbox itself, step by step: no background pump there.
    manual = "outage" in request.node.name
    with mail_bot(
        mailbox, smtp_sink, slack_api, database_url, pump_interval=3600 if manual else 0.2
    ) as started:
        yield started


def card_button(slack_api: FakeSlack, action_id: str) -> str:
    """The value of a button on the newest version of the case card."""
    calls = [
        c
        for c in slack_api.calls
        if c.method in ("chat.postMessage", "chat.update") and "case_actions" in json.dumps(c.args)
    ]
    for block in calls[-1].args["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button on the card")


def interact(slack_api: FakeSlack, payload: dict[str, Any]) -> dict[str, Any]:
    return slack_api.wait_ack(slack_api.push("interactive", payload))


def wait(predicate: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met")


def test_from_mail_to_sent_reply_entirely_in_slack(
    bot: tuple[App, SlackRuntime],
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
) -> None:
    app, _ = bot
    mailbox.append(SV_ERASURE)
    MailboxWatcher(app).run_once()
    ack_mail = smtp_sink.wait_for(1)[0].message
    card = slack_api.wait_for("chat.postMessage", lambda c: "case_actions" in json.dumps(c.args))
    case = only_case(app)
    assert case.ref in json.dumps(card.args["blocks"]) and case.slack_ts == card.result["ts"]
    wait(slack_api.connected)

    interact(slack_api, block_action(APPROVER, "dsr_verify", card_button(slack_api, "dsr_verify")))
    verify_view = slack_api.opened_view("dsr_verify_submit")
    answer = interact(
        slack_api,
        view_submission(
            APPROVER,
            verify_view,
            {"method": select_value("customer_record"), "note": text_value("Kundnr 4711")},
        ),
    )
    assert "errors" not in json.dumps(answer)
    slack_api.wait_for("chat.update", lambda c: "verified" in json.dumps(c.args))

    interact(
        slack_api, block_action(APPROVER, "dsr_prepare", card_button(slack_api, "dsr_prepare"))
    )
    # Opened at once as "preparing", then filled in once the dry run is done.
    slack_api.opened_view("dsr_reply_preparing")
    reply_view = slack_api.wait_for(
        "views.update", lambda c: c.args["view"]["callback_id"] == "dsr_reply_submit"
    ).args["view"]
    inputs = {
        b["block_id"]: text_value(b["element"]["initial_value"])
        for b in reply_view["blocks"]
        if b["type"] == "input"
    }
    shown = json.dumps(inputs, ensure_ascii=False)
    assert "radering" in shown  # Swedish, as the request
    # No data source is configured: nothing records what was erased, so the draft leaves
    # the gap for staff to fill (a letter states only what the case records).
    assert "[[FILL IN: erased_summary]]" in shown
    inputs = {
        k: text_value(v["value"]["value"].replace("[[FILL IN: erased_summary]]", "Kundregistret"))
        for k, v in inputs.items()
    }
    answer = interact(slack_api, view_submission(APPROVER, reply_view, inputs))
    assert "errors" not in json.dumps(answer)

    reply = smtp_sink.wait_for(2)[1].message
    request_id = only_case(app).request_message_id
    assert reply["In-Reply-To"] == request_id and request_id in reply["References"]
    assert reply["To"].addresses[0].addr_spec == "karin.lind@example.se"
    assert case.ref in reply["Subject"] and "radering" in reply["Subject"]
    assert "- Kundregistret" in reply.get_body(("plain",)).get_content()
    assert "Hej Karin Lind!" in reply.get_body(("plain",)).get_content()
    assert reply["Message-ID"] != ack_mail["Message-ID"]
    assert only_case(app).status == "answered"
    [approved] = audit(app, "reply_approved")
    assert approved.actor == f"slack:{APPROVER}"
    slack_api.wait_for(
        "chat.postMessage",
        lambda c: c.args.get("thread_ts") == case.slack_ts and "approved" in c.args["text"],
    )
    assert slack_api.rejected == []


def wait_for_probe(app: App) -> None:
    """Until the Slack breaker lets its next probe through (at most a few seconds)."""
    time.sleep(app.breakers["slack"].wait_seconds() or 0.0)


def test_a_slack_outage_delays_cards_but_loses_none(
    bot: tuple[App, SlackRuntime],
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
) -> None:
    app, runtime = bot
    slack_api.mode = "down"
    mailbox.append(SV_ERASURE)
    mailbox.append(EN_ACCESS)
    MailboxWatcher(app).run_once()
    assert len(smtp_sink.wait_for(2)) == 2  # acknowledgements go out regardless
    with app.factory() as session:
        cards = session.execute(
            sa.select(Outbound).where(Outbound.purpose == "case_card")
        ).scalars()
        attempts = [(c.status, c.attempts) for c in cards]
    # The first failure opens Slack's circuit breaker (issue 16): the other card waits
    # for the probe untouched instead of failing on its own.
    assert [status for status, _ in attempts] == ["pending"] * 2
    assert sum(n for _, n in attempts) == 1
    assert slack_api.calls_of("chat.postMessage") == []

    slack_api.mode = "5xx"
    wait_for_probe(app)
    runtime.pump_once()
    assert slack_api.calls_of("chat.postMessage") == []

    wait_for_probe(app)
    slack_api.rate_limit(1, retry_after=1)  # Slack comes back, asking us to slow down first
    slack_api.mode = "ok"
    started = time.monotonic()
    runtime.pump_once()
    posted = slack_api.calls_of("chat.postMessage")
    assert len(posted) == 2 and time.monotonic() - started >= 1  # Retry-After honoured
    runtime.pump_once()
    assert len(slack_api.calls_of("chat.postMessage")) == 2  # and nothing twice
