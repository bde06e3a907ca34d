"""The daily digest: built from open cases, sent once a day, silent when nothing is open."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from dsr_bot.cases.model import CaseStatus
from dsr_bot.jobs.digest import OpenCase, build_digest, digest_text, post_digest
from dsr_bot.store.tables import Outbound
from tests.ops_support import local, move_case, open_db, seed_case

WED = date(2026, 4, 8)


def test_digest_groups_open_cases() -> None:
    cases = [
        OpenCase("DSR-2026-0001", "open", date(2026, 4, 7)),  # overdue
        OpenCase("DSR-2026-0002", "awaiting_identity", date(2026, 4, 12)),  # Sunday
        OpenCase("DSR-2026-0003", "in_progress", date(2026, 4, 13)),  # next week
        OpenCase("DSR-2026-0004", "open", WED),
    ]
    digest = build_digest(cases, WED)
    assert digest is not None
    assert digest.by_status == {"awaiting_identity": 1, "in_progress": 1, "open": 2}
    assert [c.ref for c in digest.overdue] == ["DSR-2026-0001"]
    assert [c.ref for c in digest.due_this_week] == ["DSR-2026-0004", "DSR-2026-0002"]
    assert [c.ref for c in digest.waiting_for_requester] == ["DSR-2026-0002"]
    assert digest_text(digest).splitlines() == [
        "*Data-subject requests, Wed 08 Apr 2026*",
        "Open: 4 (1 awaiting identity, 1 in progress, 2 open)",
        ":red_circle: Overdue: DSR-2026-0001 (07 Apr)",
        "Due this week: DSR-2026-0004 (08 Apr), DSR-2026-0002 (12 Apr)",
        "Waiting for the requester: DSR-2026-0002 (12 Apr)",
    ]
    assert build_digest([], WED) is None


def test_post_digest_once_a_day_and_never_when_nothing_is_open(database_url: str) -> None:
    engine, factory = open_db(database_url)
    kwargs = {"timezone": "Europe/Stockholm", "channel": "C0DIGEST"}
    assert post_digest(factory, now=local(2026, 3, 31, 8), **kwargs) is False
    case_id = seed_case(factory, local(2026, 3, 3, 9))
    assert post_digest(factory, now=local(2026, 3, 31, 8), **kwargs) is True
    assert post_digest(factory, now=local(2026, 3, 31, 14), **kwargs) is False
    move_case(factory, case_id, CaseStatus.CLOSED, at=local(2026, 4, 1, 7))
    assert post_digest(factory, now=local(2026, 4, 1, 8), **kwargs) is False
    with factory() as session:
        items = session.execute(sa.select(Outbound)).scalars().all()
    assert [(o.purpose, o.idempotency_key) for o in items] == [("digest", "digest:2026-03-31")]
    payload = items[0].payload
    assert payload["case_thread"] is False and payload["args"]["channel"] == "C0DIGEST"
    assert "anna" not in payload["args"]["text"].lower()  # no requester data in Slack
    engine.dispose()
