"""The APScheduler wiring: jobs persisted in our database, restarts neither forget nor repeat."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent

from dsr_bot import bootstrap
from dsr_bot.config import load_settings
from dsr_bot.jobs import scheduler as sched
from dsr_bot.store.tables import Outbound, Reminder
from tests.ops_support import local, open_db, seed_case

TZ = "Europe/Stockholm"


def make(engine: sa.Engine, work: dict[str, Any], **spec_args: Any) -> sched.DsrScheduler:
    return sched.DsrScheduler(engine, work, sched.job_specs(timezone=TZ, **spec_args), timezone=TZ)


def noop() -> None:
    return None


ALL_NOOP = dict.fromkeys(sched.JOB_IDS, noop)


def test_job_specs_follow_the_settings() -> None:
    specs = {s.job_id: s for s in sched.job_specs(timezone=TZ, sweep_minutes=15)}
    assert set(specs) == set(sched.JOB_IDS)
    assert specs["deadline_sweep"].trigger.interval == timedelta(minutes=15)
    digest = specs["daily_digest"].trigger
    fire = digest.get_next_fire_time(None, datetime(2026, 3, 28, 12, tzinfo=UTC))
    # 08:00 Stockholm: UTC+1 on 28 Mar, UTC+2 once summer time starts on the 29th
    assert fire == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="HH:MM"):
        sched.job_specs(timezone=TZ, digest_time="8 o'clock")


def test_jobs_are_persisted_once_and_survive_a_restart(database_url: str) -> None:
    engine, _ = open_db(database_url)
    first = make(engine, ALL_NOOP)
    first.start(paused=True)
    stored = {job_id: job.next_run_time for job_id, job in first.jobs().items()}
    job = first.jobs()["deadline_sweep"]
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 3600)
    first.shutdown()

    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT id FROM {sched.JOBS_TABLE} ORDER BY id")).all()
    assert [r[0] for r in rows] == sorted(sched.JOB_IDS)

    second = make(engine, ALL_NOOP)  # a new process, same settings: nothing re-added
    second.start(paused=True)
    assert {j: job.next_run_time for j, job in second.jobs().items()} == stored
    second.shutdown()

    third = make(engine, ALL_NOOP, sweep_minutes=10)  # the operator changed the interval
    third.start(paused=True)
    assert third.jobs()["deadline_sweep"].trigger.interval == timedelta(minutes=10)
    assert third.jobs()["daily_digest"].next_run_time == stored["daily_digest"]
    third.shutdown()
    engine.dispose()


def _with_past_run(engine: sa.Engine, job_id: str, ago: timedelta) -> None:
    setup = make(engine, ALL_NOOP)
    setup.start(paused=True)
    setup.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC) - ago)
    setup.shutdown()


def test_a_run_missed_while_down_happens_once_on_start(database_url: str) -> None:
    engine, _ = open_db(database_url)
    # Three sweeps (20 min apart) fell due while the process was down: coalesced into one.
    _with_past_run(engine, "deadline_sweep", timedelta(minutes=50))
    runs: list[str] = []
    done = threading.Event()

    def sweep() -> None:
        runs.append("sweep")

    restarted = make(engine, {**ALL_NOOP, "deadline_sweep": sweep}, sweep_minutes=60)

    def listener(event: JobExecutionEvent) -> None:
        if event.job_id == "deadline_sweep":
            done.set()

    restarted.scheduler.add_listener(listener, EVENT_JOB_EXECUTED)
    restarted.start()
    assert done.wait(20)
    next_run = restarted.jobs()["deadline_sweep"].next_run_time
    restarted.shutdown()
    assert runs == ["sweep"]
    assert next_run > datetime.now(UTC)
    engine.dispose()


def test_a_digest_missed_beyond_the_grace_time_is_skipped(database_url: str) -> None:
    """A digest 8 h late is stale news: after the 6-h grace it is dropped, not sent late.

    The digest time is set 8 h before now, so that no later fire time falls between the
    missed run and now, whatever the time of day the test runs at."""
    engine, _ = open_db(database_url)
    missed_at = (datetime.now(UTC) - timedelta(hours=8)).replace(second=0, microsecond=0)
    digest_time = missed_at.astimezone(ZoneInfo(TZ)).strftime("%H:%M")
    setup = make(engine, ALL_NOOP, digest_time=digest_time)
    setup.start(paused=True)
    setup.scheduler.modify_job("daily_digest", next_run_time=missed_at)
    setup.shutdown()
    runs: list[str] = []
    missed = threading.Event()
    restarted = make(
        engine, {**ALL_NOOP, "daily_digest": lambda: runs.append("x")}, digest_time=digest_time
    )
    restarted.scheduler.add_listener(lambda e: missed.set(), EVENT_JOB_MISSED)
    restarted.start()
    assert missed.wait(20)
    next_run = restarted.jobs()["daily_digest"].next_run_time
    restarted.shutdown()
    assert runs == []
    assert next_run > datetime.now(UTC)
    engine.dispose()


def test_run_job_survives_a_failing_job_and_unknown_ids(caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> None:
        raise RuntimeError("anna@example.se")

    engine = sa.create_engine("sqlite://")
    s = make(engine, {"deadline_sweep": boom})
    with sched._registry_lock:
        sched._registry.update(s._work)
    try:
        sched._run_job("deadline_sweep")  # must not raise: the scheduler thread lives on
        sched._run_job("no_such_job")
    finally:
        s.shutdown()
    assert "deadline_sweep failed" in caplog.text
    assert "no work registered" in caplog.text
    with pytest.raises(ValueError, match="unknown job ids"):
        make(engine, {"mailbox_poll": noop})


def test_work_for_app_binds_sweep_and_digest_to_the_database(database_url: str) -> None:
    engine, factory = open_db(database_url)
    seed_case(factory, local(2026, 3, 3, 9))
    settings = load_settings(
        None, database_url=database_url, slack_channel="C0DIGEST", slack_bot_token="xoxb-t"
    )
    stop = threading.Event()
    app = SimpleNamespace(
        settings=settings,
        engine=engine,
        factory=factory,
        clock=lambda: local(2026, 3, 31, 8),
        # Records which transports the retry job asks for and whether it passes the stop event.
        outbox=lambda kinds=None: SimpleNamespace(
            drain=lambda stop=None: (tuple(kinds or ()), stop)
        ),
    )
    work = bootstrap.work_for_app(app, stop)
    work["deadline_sweep"]()
    work["daily_digest"]()
    # The scheduler's thread must not use the watcher's IMAP connection (Sent copies).
    assert work["outbox_retry"]() == (("mail", "slack"), stop)
    report = work["retention_purge"]()
    assert report.raw_cases == [] and report.anonymised_cases == []
    with factory() as session:
        kinds = sorted(session.execute(sa.select(Reminder.kind)).scalars())
        purposes = sorted(session.execute(sa.select(Outbound.purpose)).scalars())
    assert kinds == ["due-in-7d", "extension-cutoff"]
    assert purposes == ["digest", "reminder", "reminder"]
    assert bootstrap.scheduler_for_app(app).jobs() == {}  # built, not started
    engine.dispose()


def test_without_slack_reminders_and_digests_queue_nothing(database_url: str) -> None:
    engine, factory = open_db(database_url)
    seed_case(factory, local(2026, 3, 3, 9))
    settings = load_settings(None, database_url=database_url)
    app = SimpleNamespace(
        settings=settings,
        engine=engine,
        factory=factory,
        clock=lambda: local(2026, 3, 31, 8),
        outbox=None,
    )
    work = bootstrap.work_for_app(app)
    assert "not configured" in work["deadline_sweep"]()
    assert "not configured" in work["daily_digest"]()
    with factory() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Outbound)).scalar_one() == 0
    engine.dispose()
