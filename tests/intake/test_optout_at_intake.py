"""Art. 21(3) end to end: an opt-out is honoured when the mail arrives, not at approval.

Real Dovecot, real classifier, real SMTP server, the fake Slack's wire: the opt-out mail is
fetched, the address is on the suppression list in the same commit as the case, the
acknowledgement says so, the card shows it, the case cannot be extended, and the
confirmation needs no identity check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from dsr_bot.bootstrap import App
from dsr_bot.cases import service
from dsr_bot.cases.model import RuleViolation
from dsr_bot.fulfilment.suppression import is_suppressed, suppression_csv, suppression_entries
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.slack.runtime import SlackRuntime
from dsr_bot.store.tables import Case, Event
from tests.fixtures.slack_api import FakeSlack
from tests.fixtures.slack_app import APPROVER, mail_bot, newest_card, only_case
from tests.fixtures.slack_payloads import block_action, text_value, view_submission
from tests.intake.test_intake_e2e import mail

pytestmark = pytest.mark.slow

SV_OPTOUT = mail(
    "lena.berg@example.se",
    "Avregistrering",
    "Hej, jag vill inte längre få era nyhetsbrev eller annan reklam. Ta bort mig från "
    "utskickslistan. Mvh Lena",
    name="Lena Berg",
)
EN_OPTOUT = mail(
    "tom@example.co.uk",
    "Unsubscribe",
    "Please stop sending me marketing emails. I no longer want your newsletter. Thanks, Tom",
    name="Tom Hale",
)


@pytest.fixture
def bot(
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    database_url: str,
) -> Iterator[tuple[App, SlackRuntime]]:
    with mail_bot(mailbox, smtp_sink, slack_api, database_url, pump_interval=0.1) as started:
        yield started


def button(blocks: list[Any], action_id: str) -> str | None:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    return None


@pytest.mark.parametrize(
    ("raw", "address", "says"),
    [
        (SV_OPTOUT, "lena.berg@example.se", "Vi har redan slutat skicka direktmarknadsföring"),
        (EN_OPTOUT, "tom@example.co.uk", "We have already stopped sending direct marketing"),
    ],
)
def test_an_opt_out_is_on_the_list_when_the_acknowledgement_goes_out(
    bot: tuple[App, SlackRuntime],
    mailbox: Any,
    smtp_sink: Any,
    slack_api: FakeSlack,
    raw: bytes,
    address: str,
    says: str,
) -> None:
    app, runtime = bot
    mailbox.append(raw)
    MailboxWatcher(app).run_once()
    case = only_case(app)
    assert case.types == ["marketing_optout"]
    assert case.marketing_stopped_at is not None
    with app.factory() as session:
        assert is_suppressed(session, address)
        [added] = session.execute(
            sa.select(Event).where(Event.action == "suppression_added")
        ).scalars()
        # Listed by the system in intake's transaction, before any person looked at it.
        assert added.actor == "system" and added.case_id == case.id
        assert added.at == case.opened_at
        assert address.encode() in suppression_csv(suppression_entries(session), hashed=False)

    ack = smtp_sink.wait_for(1)[0].message
    body = ack.get_body(("plain",)).get_content()
    assert says in body
    # The old promise ("as soon as we have handled your case") would now be untrue.
    assert "så snart vi har hanterat" not in body and "as soon as we have handled" not in body

    runtime.poke()
    blocks = newest_card(slack_api, lambda b: "suppressed at intake" in b)
    # Nothing to verify, nothing to extend: the confirmation can go at once.
    assert button(blocks, "dsr_extend") is None and button(blocks, "dsr_verify") is None
    prepare = button(blocks, "dsr_prepare")
    assert prepare is not None
    with app.factory() as session, session.begin():
        stored = session.get_one(Case, case.id)
        with pytest.raises(RuleViolation, match="cannot be extended"):
            service.extend_deadline(
                session,
                stored,
                policy=service.CasePolicy(),
                now=stored.opened_at,
                actor="test",
                reason="many requests",
            )

    before = len(slack_api.calls_of("views.update"))
    slack_api.wait_ack(
        slack_api.push("interactive", block_action(APPROVER, "dsr_prepare", prepare))
    )
    deadline = time.monotonic() + 10
    while len(slack_api.calls_of("views.update")) <= before:
        assert time.monotonic() < deadline, "the reply modal was never filled in"
        time.sleep(0.05)
    view = slack_api.calls_of("views.update")[-1].args["view"]
    assert view["callback_id"] == "dsr_reply_submit"
    assert "already listed at intake" in json.dumps(view, ensure_ascii=False)
    values = {
        b["block_id"]: text_value(b["element"]["initial_value"])
        for b in view["blocks"]
        if b["type"] == "input"
    }
    answer = slack_api.wait_ack(
        slack_api.push("interactive", view_submission(APPROVER, view, values))
    )
    assert "errors" not in json.dumps(answer)
    confirmation = smtp_sink.wait_for(2)[1]
    assert confirmation.rcpt_tos == [address]
    with app.factory() as session:
        # The approval lists nothing twice and says nothing new in the trail.
        assert (
            session.execute(
                sa.select(sa.func.count())
                .select_from(Event)
                .where(Event.action.in_(["suppression_added", "suppression_confirmed"]))
            ).scalar_one()
            == 1
        )
