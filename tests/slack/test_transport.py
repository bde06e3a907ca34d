"""The outbox's Slack transport against the fake Slack Web API: the case card stays current.

Two senders (two instances, or one pump and a retry) may work the outbox at once; the card
must end up showing the case as it is, whatever order they finish in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import service
from dsr_bot.cases.model import RequestType
from dsr_bot.outbox import Outbox
from dsr_bot.slack import notify
from dsr_bot.slack.transport import SlackTransport
from dsr_bot.store import db
from dsr_bot.store.tables import Case, Outbound
from tests.fixtures.slack_api import BOT_TOKEN, FakeSlack
from tests.fixtures.slack_payloads import CHANNEL

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ASSIGNEE = "slack:UASSIGNEE"


class SlowPoster(WebClient):
    """A Web API client that runs `during_post` after the card was rendered and before Slack
    answers the first post: the moment a second sender can pick up an update."""

    during_post: Callable[[], None] = staticmethod(lambda: None)

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        if api_method == "chat.postMessage":
            hook, self.during_post = self.during_post, staticmethod(lambda: None)
            hook()
        return super().api_call(api_method, **kwargs)


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield db.session_factory(engine)
    engine.dispose()


def open_case_with_card(factory: sessionmaker[Session]) -> int:
    with factory() as session, session.begin():
        case = service.open_case(
            session,
            policy=service.CasePolicy(),
            now=NOW,
            received_at=NOW,
            types=[RequestType.ACCESS],
            requester_email="karin.lind@example.se",
            requester_name="Karin Lind",
            language="sv",
        )
        notify.enqueue_case_card(session, case, CHANNEL, NOW)
        return case.id


def senders(
    factory: sessionmaker[Session], client: WebClient
) -> tuple[Outbox, Outbox, SlackTransport]:
    transport = SlackTransport(
        client, factory, clock=lambda: NOW, tz=ZoneInfo("Europe/Stockholm"), excerpt_mode="none"
    )

    def sender() -> Outbox:
        later = NOW + timedelta(seconds=1)
        return Outbox(factory, {"slack": transport}, clock=lambda: later, retry_initial=0)

    return sender(), sender(), transport


def test_an_update_while_the_first_post_is_in_flight_is_retried_not_lost(
    factory: sessionmaker[Session],
    slack_api: FakeSlack,
) -> None:
    case_id = open_case_with_card(factory)
    client = SlowPoster(token=BOT_TOKEN, base_url=slack_api.url)
    first, second, _ = senders(factory, client)

    def staff_assign_and_the_other_sender_runs() -> None:
        with factory() as session, session.begin():
            case = session.get_one(Case, case_id)
            case.assignee = ASSIGNEE
            notify.enqueue_card_update(session, case, "assign", NOW)
        second.drain()  # the post is SENDING: its ts is not known yet

    client.during_post = staff_assign_and_the_other_sender_runs
    first.drain()  # posts the card as rendered before the assignment
    [posted] = slack_api.calls_of("chat.postMessage")
    assert "UASSIGNEE" not in json.dumps(posted.args["blocks"])
    with factory() as session:
        update = session.execute(
            sa.select(Outbound).where(Outbound.purpose == "case_card_update")
        ).scalar_one()
        assert (update.status, update.attempts) == ("pending", 1)  # to be retried
        assert "not posted yet" in (update.last_error or "")

    first.drain()  # the retry, now that the card's ts is stored
    [updated] = slack_api.calls_of("chat.update")
    assert updated.args["ts"] == posted.result["ts"]
    assert "UASSIGNEE" in json.dumps(slack_api.messages[(CHANNEL, updated.args["ts"])]["blocks"])


def test_an_update_before_the_post_was_taken_is_covered_by_the_post(
    factory: sessionmaker[Session],
    slack_api: FakeSlack,
) -> None:
    case_id = open_case_with_card(factory)
    first, _, transport = senders(factory, WebClient(token=BOT_TOKEN, base_url=slack_api.url))
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        case.assignee = ASSIGNEE
        notify.enqueue_card_update(session, case, "assign", NOW)
    with factory() as session:
        update = session.execute(
            sa.select(Outbound).where(Outbound.purpose == "case_card_update")
        ).scalar_one()
    assert transport.deliver(update) is None  # nothing to send: the queued post will show it
    first.drain()
    [posted] = slack_api.calls_of("chat.postMessage")
    assert "UASSIGNEE" in json.dumps(posted.args["blocks"])
