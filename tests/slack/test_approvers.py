"""Who may act: user IDs and approver user groups, read from the fake Slack Web API.

The client is the one the bot builds (`runtime.web_client`), so a Slack outage looks as it
does in production: 5xx answers, retried by slack_sdk, then an error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dsr_bot.cases.actions import StaffDesk
from dsr_bot.cases.desk import Staff
from dsr_bot.cases.model import RuleViolation
from dsr_bot.config import Settings
from dsr_bot.slack.approvers import UNCHECKED, Approvers
from dsr_bot.slack.runtime import web_client
from tests.fixtures.desk import events, open_case
from tests.fixtures.slack_api import BOT_TOKEN, FakeSlack

GROUP, MEMBER, OUTSIDER, LISTED = "SAPPROVERS", "UMEMBER", "UOUTSIDER", "ULISTED"
TTL = 300.0


class Clock:
    """Seconds, moved by the test (`time.monotonic` in production)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def approvers(slack_api: FakeSlack) -> Iterator[tuple[Approvers, Clock]]:
    slack_api.usergroups[GROUP] = [MEMBER]
    settings = Settings(slack_bot_token=BOT_TOKEN, slack_api_url=slack_api.url)
    clock = Clock()
    client = web_client(settings, retry_backoff=0.01)
    yield Approvers(client, [LISTED, GROUP], ttl=TTL, clock=clock), clock


def lookups(slack: FakeSlack) -> int:
    return len(slack.calls_of("usergroups.users.list"))


def test_group_membership_is_cached_for_the_ttl_then_read_again(
    approvers: tuple[Approvers, Clock],
    slack_api: FakeSlack,
) -> None:
    who, clock = approvers
    assert who.is_approver(MEMBER) and not who.is_approver(OUTSIDER)
    assert lookups(slack_api) == 1  # the second question came from the cache
    slack_api.usergroups[GROUP] = []  # removed from the group in Slack
    clock.now += TTL - 1
    assert who.is_approver(MEMBER)  # still cached: the documented delay
    clock.now += 2
    assert not who.is_approver(MEMBER) and lookups(slack_api) == 2


@pytest.mark.parametrize("outage", ["5xx", "down"])
def test_when_slack_cannot_be_asked_a_stale_membership_no_longer_counts(
    approvers: tuple[Approvers, Clock],
    slack_api: FakeSlack,
    outage: str,
) -> None:
    who, clock = approvers
    assert who.is_approver(MEMBER)
    slack_api.mode = outage
    clock.now += TTL - 1
    assert who.is_approver(MEMBER)  # within the TTL no lookup is needed
    clock.now += 2
    assert not who.is_approver(MEMBER)  # the stale list is not trusted
    assert who.is_approver(LISTED)  # listed by ID: no lookup needed
    assert who.staff(MEMBER) == Staff(f"slack:{MEMBER}", False, refusal=UNCHECKED)
    slack_api.mode = "ok"
    assert who.is_approver(MEMBER)  # back as soon as Slack answers again


def test_the_refusal_says_slack_could_not_be_asked_and_is_on_record(
    approvers: tuple[Approvers, Clock],
    slack_api: FakeSlack,
    desk: StaffDesk,
) -> None:
    who, clock = approvers
    case_id = open_case(desk)
    assert who.staff(MEMBER).approver
    slack_api.mode = "5xx"
    clock.now += TTL + 1
    with pytest.raises(RuleViolation, match="could not be asked"):
        desk.verify_identity(who.staff(MEMBER), "k1", case_id, "id_document")
    [refused] = events(desk, "action_refused")
    assert (refused.actor, refused.detail["action"]) == (f"slack:{MEMBER}", "verify_identity")
    assert "approver group" in refused.detail["reason"]
    # Someone simply not an approver still gets the usual sentence.
    slack_api.mode = "ok"
    with pytest.raises(RuleViolation, match="Only approvers"):
        desk.verify_identity(who.staff(OUTSIDER), "k2", case_id, "id_document")
