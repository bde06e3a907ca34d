"""Schema and storage guarantees, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dsr_bot import outbox
from dsr_bot.cases.model import RequestType
from dsr_bot.cases.service import CasePolicy, open_case
from dsr_bot.store import db
from dsr_bot.store.tables import Base, Event, Outbound


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (type_ == "table" and name == "apscheduler_jobs")


NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def migrated(url: str) -> sa.Engine:
    engine = db.make_engine(url)
    db.upgrade(engine)
    return engine


def test_migrations_match_the_models(database_url: str) -> None:
    engine = migrated(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}
            ),
            Base.metadata,
        )
    assert diff == []
    assert db.current_revision(engine) == db.head_revision()


def test_case_references_are_unique_and_sequential_under_concurrency(database_url: str) -> None:
    engine = migrated(database_url)
    factory = db.session_factory(engine)

    def open_one(i: int) -> str:
        with db.transaction(factory) as session:
            case = open_case(
                session,
                policy=CasePolicy(),
                now=NOW,
                received_at=NOW,
                types=[RequestType.ACCESS],
                requester_email=f"p{i}@example.se",
                requester_name=None,
                language="sv",
            )
            return case.ref

    with ThreadPoolExecutor(max_workers=4) as pool:
        refs = list(pool.map(open_one, range(20)))
    assert sorted(refs) == [f"DSR-2026-{n:04d}" for n in range(1, 21)]
    with factory() as session:
        opened = session.execute(
            sa.select(sa.func.count()).select_from(Event).where(Event.action == "case_opened")
        ).scalar_one()
    assert opened == 20


def test_enqueue_is_idempotent_per_key(database_url: str) -> None:
    factory = db.session_factory(migrated(database_url))
    added = []
    for _ in range(3):
        with db.transaction(factory) as session:
            added.append(
                outbox.enqueue(
                    session,
                    key="ack:1",
                    kind="mail",
                    purpose="acknowledgement",
                    now=NOW,
                    body=b"x",
                    payload={"to": ["a@example.se"]},
                )
            )
    with factory() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Outbound)).scalar_one() == 1
    assert added == [True, False, False]


def test_timestamps_come_back_aware_utc(database_url: str) -> None:
    factory = db.session_factory(migrated(database_url))
    with db.transaction(factory) as session:
        outbox.enqueue(session, key="k", kind="mail", purpose="p", now=NOW, body=b"x")
    with factory() as session:
        row = session.execute(sa.select(Outbound)).scalar_one()
    assert row.created_at == NOW
    assert row.created_at.tzinfo is not None
