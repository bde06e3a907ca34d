"""Shared set-up for the operations tests (reminders, retention, report, scheduler)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases import service
from dsr_bot.cases.model import CaseStatus, RequestType
from dsr_bot.store import db
from dsr_bot.store.tables import Case

STOCKHOLM = ZoneInfo("Europe/Stockholm")
POLICY = service.CasePolicy()


def open_db(url: str, *, upgrade: bool = True) -> tuple[sa.Engine, sessionmaker[Session]]:
    engine = db.make_engine(url)
    if upgrade:
        db.upgrade(engine)
    return engine, db.session_factory(engine)


def local(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Stockholm wall-clock time as an aware UTC datetime (what the clock returns)."""
    return datetime(y, m, d, hour, minute, tzinfo=STOCKHOLM).astimezone(UTC)


def seed_case(
    factory: sessionmaker[Session],
    received_at: datetime,
    *,
    types: Sequence[RequestType] = (RequestType.ACCESS,),
    language: str = "sv",
    email: str | None = "anna.andersson@example.se",
    name: str | None = "Anna Andersson",
    assignee: str | None = None,
    slack_ts: str | None = None,
) -> int:
    with factory() as session, session.begin():
        case = service.open_case(
            session,
            policy=POLICY,
            now=received_at,
            received_at=received_at,
            types=types,
            requester_email=email,
            requester_name=name,
            language=language,
            request_subject="Begäran om registerutdrag",
        )
        case.assignee = assignee
        if slack_ts:
            case.slack_channel = "C0CASES"
            case.slack_ts = slack_ts
        return case.id


def move_case(
    factory: sessionmaker[Session], case_id: int, *path: CaseStatus, at: datetime
) -> None:
    """Walk a case through statuses with the real service (each step audited)."""
    with factory() as session, session.begin():
        case = session.get_one(Case, case_id)
        for status in path:
            service.change_status(session, case, status, now=at, actor="slack:U0STAFF")
