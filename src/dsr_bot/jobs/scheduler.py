"""Periodic work on APScheduler 3.x: deadline sweep, outbox retry, daily digest, retention.

Job state lives in the application's own database (SQLAlchemy job store, table
`apscheduler_jobs`), so a restart neither forgets a run that fell due while the process was
down (it runs once on start, within `misfire_grace_time`) nor repeats runs (`coalesce`: many
missed runs become one). `max_instances=1` keeps a slow run from overlapping the next.
Only the elected leader runs a scheduler (see leader.py). Each run first claims its
`(job, due time)` in the `scheduled_run` table, in a transaction fenced by the leader lease,
so no job runs twice for one due time, across instances, failovers and restarts (the job
store alone could: two leaders, or a crash between a run and the store's update). Every job
is idempotent anyway (unique reminder and outbox keys).

The job store pickles jobs, so a job names a module-level function and a job id, never a
bound method; `_run_job` finds the work to do in a per-process registry filled by `start()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.store.tables import ScheduledRun

if TYPE_CHECKING:
    from dsr_bot.leader import Lease

log = logging.getLogger(__name__)

DEADLINE_SWEEP = "deadline_sweep"
OUTBOX_RETRY = "outbox_retry"
DAILY_DIGEST = "daily_digest"
RETENTION_PURGE = "retention_purge"
JOB_IDS = (DEADLINE_SWEEP, OUTBOX_RETRY, DAILY_DIGEST, RETENTION_PURGE)

JOBS_TABLE = "apscheduler_jobs"
OUTBOX_RETRY_SECONDS = 60
# What the job store records for every job (APScheduler stores the reference, not the code).
JOB_FUNCTION = "dsr_bot.jobs.scheduler:_run_job"
# A daily job missed by up to 6 h (a restart, a failover) still runs; a day-old one doesn't.
DAILY_GRACE = timedelta(hours=6)
# Retention runs at night, away from office hours and the 08:00 digest.
RETENTION_TIME = "03:30"

# Claims older than this are pruned: only recent due times can come round again.
CLAIMS_KEPT = timedelta(days=7)
# A store that fails (the database is away) is asked again this soon, not APScheduler's 10 s.
STORE_RETRY_SECONDS = 2.0

_registry: dict[str, Callable[[], Any]] = {}
_registry_lock = threading.Lock()


def _run_job(job_id: str) -> None:
    """Entry point of every persisted job (referenced by name in the job store)."""
    with _registry_lock:
        work = _registry.get(job_id)
    if work is None:
        log.warning("scheduled job %s has no work registered in this process; skipped", job_id)
        return
    try:
        work()
    except Exception:
        # Logged without the exception text at INFO: it may quote personal data.
        log.exception("scheduled job %s failed; it runs again at its next time", job_id)


def _hour_minute(value: str) -> tuple[int, int]:
    try:
        hour, minute = (int(part) for part in value.split(":"))
    except ValueError:
        raise ValueError(f"expected HH:MM (got {value!r})") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"expected HH:MM (got {value!r})")
    return hour, minute


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    trigger: BaseTrigger
    misfire_grace_time: int


def job_specs(
    *,
    timezone: str,
    sweep_minutes: int = 60,
    digest_time: str = "08:00",
    retention_time: str = RETENTION_TIME,
    outbox_seconds: int = OUTBOX_RETRY_SECONDS,
) -> list[JobSpec]:
    digest_h, digest_m = _hour_minute(digest_time)
    purge_h, purge_m = _hour_minute(retention_time)
    daily = int(DAILY_GRACE.total_seconds())
    return [
        JobSpec(
            DEADLINE_SWEEP,
            IntervalTrigger(minutes=sweep_minutes, timezone=timezone),
            sweep_minutes * 60,
        ),
        JobSpec(OUTBOX_RETRY, IntervalTrigger(seconds=outbox_seconds, timezone=timezone), 300),
        JobSpec(
            DAILY_DIGEST, CronTrigger(hour=digest_h, minute=digest_m, timezone=timezone), daily
        ),
        JobSpec(
            RETENTION_PURGE, CronTrigger(hour=purge_h, minute=purge_m, timezone=timezone), daily
        ),
    ]


def claim_run(
    factory: sessionmaker[Session], job_id: str, due: datetime, epoch: int | None = None
) -> bool:
    """Record that `job_id` runs for `due`; False if some run (any instance) already did.
    With the leader's fenced factory the claim also proves leadership (leader.py)."""
    due = due.astimezone(UTC)
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = ScheduledRun.__table__
        claimed = session.execute(
            insert(table)
            .values(job_id=job_id, due_at=due, epoch=epoch or 0, claimed_at=now)
            .on_conflict_do_nothing()
            .returning(table.c.job_id)
        ).scalar_one_or_none()
        session.execute(
            sa.delete(ScheduledRun).where(
                ScheduledRun.job_id == job_id, ScheduledRun.due_at < now - CLAIMS_KEPT
            )
        )
    return claimed is not None


def _finished(factory: sessionmaker[Session], job_id: str, due: datetime) -> None:
    try:
        with factory() as session, session.begin():
            session.execute(
                sa.update(ScheduledRun)
                .where(ScheduledRun.job_id == job_id, ScheduledRun.due_at == due.astimezone(UTC))
                .values(finished_at=datetime.now(UTC))
            )
    except Exception as exc:  # bookkeeping only: the run itself is done
        log.debug("could not mark %s run finished (%s)", job_id, type(exc).__name__)


class ClaimingExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, but a run starts only after claiming its due time."""

    def __init__(
        self, factory: sessionmaker[Session], epoch: Callable[[], int | None], max_workers: int = 4
    ) -> None:
        super().__init__(max_workers)
        self._factory = factory
        self._epoch = epoch

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def callback(f: Any) -> None:
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, getattr(exc, "__traceback__", None))
            else:
                self._run_job_success(job.id, f.result())

        f = self._pool.submit(self._claimed, job, run_times)
        f.add_done_callback(callback)

    def _claimed(self, job: Job, run_times: list[datetime]) -> list[Any]:
        due = run_times[-1]  # coalesced: one run stands for all missed ones
        try:
            claimed = claim_run(self._factory, job.id, due, self._epoch())
        except Exception as exc:
            # Not leading any more, or the database is away: the run does not happen here.
            log.warning("scheduled job %s not run for %s (%s)", job.id, due, type(exc).__name__)
            return []
        if not claimed:
            log.info("scheduled job %s already ran for %s; skipped", job.id, due)
            return []
        events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
        _finished(self._factory, job.id, due)
        return events


class _ResilientScheduler(BackgroundScheduler):
    """APScheduler 3 retries a failing `get_due_jobs`, but an error while updating a job's
    next run time escapes its loop and ends the scheduler thread for good: retry instead."""

    def _process_jobs(self) -> float | None:
        try:
            return super()._process_jobs()
        except Exception as exc:
            log.warning("scheduler: job store failed (%s); retrying", type(exc).__name__)
            return STORE_RETRY_SECONDS


class DsrScheduler:
    """A BackgroundScheduler whose jobs persist in the application database."""

    def __init__(
        self,
        engine: sa.Engine,
        work: Mapping[str, Callable[[], Any]],
        specs: list[JobSpec],
        *,
        timezone: str,
        claims: sessionmaker[Session] | None = None,
        lease: Lease | None = None,
    ) -> None:
        unknown = set(work) - set(JOB_IDS)
        if unknown:
            raise ValueError(f"unknown job ids: {sorted(unknown)}")
        self._work = dict(work)
        self._specs = [s for s in specs if s.job_id in work]
        executor = ClaimingExecutor(
            claims or sessionmaker(engine), lambda: lease.epoch if lease is not None else None
        )
        self.scheduler = _ResilientScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
            executors={"default": executor},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=timezone,
            jobstore_retry_interval=STORE_RETRY_SECONDS,
        )

    def start(self, *, paused: bool = False) -> None:
        """Register the work, reconcile the stored jobs with the settings, and run."""
        with _registry_lock:
            _registry.update(self._work)
        # Started paused so the store is open while jobs are reconciled; nothing runs yet.
        if not self.scheduler.running:
            self.scheduler.start(paused=True)
        for spec in self._specs:
            self._reconcile(spec)
        if not paused:
            self.scheduler.resume()

    def start_when_possible(self, stop: threading.Event, retry: float = 2.0) -> bool:
        """`start()`, retried while the database is away; False if `stop` came first."""
        logged = 0.0
        while not stop.is_set():
            try:
                self.start()
                return True
            except Exception as exc:
                # Not shut down: that would dispose the application's engine (the store's
                # shutdown does). `start()` picks up where it failed.
                now = time.monotonic()
                if now - logged >= 60:
                    logged = now
                    log.warning("scheduler cannot start (%s); retrying", type(exc).__name__)
                stop.wait(retry)
        return False

    def _reconcile(self, spec: JobSpec) -> None:
        try:
            existing = self.scheduler.get_job(spec.job_id)
        except LookupError:
            # Stored by a release whose job function lived elsewhere (before 0.2 it was
            # `dsr_bot.scheduler:_run_job`): APScheduler cannot unpickle it, so replace it.
            log.info("scheduler: replacing stored job %s from an earlier release", spec.job_id)
            self.scheduler.remove_job(spec.job_id)
            existing = None
        if (
            existing is not None
            and existing.func_ref == JOB_FUNCTION
            and str(existing.trigger) == str(spec.trigger)
            and existing.misfire_grace_time == spec.misfire_grace_time
        ):
            # Keep the stored next_run_time: that is what makes a restart catch up once.
            return
        self.scheduler.add_job(
            JOB_FUNCTION,
            trigger=spec.trigger,
            args=[spec.job_id],
            id=spec.job_id,
            name=spec.job_id,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=True,
            max_instances=1,
        )

    def shutdown(self, *, wait: bool = True) -> None:
        if self.scheduler.running:
            # APScheduler 3's loop makes one last pass after shutdown(); a job due at that
            # instant would have its next_run_time advanced without running (a lost digest).
            # Detaching the store first leaves the pass nothing to see, and keeps the store's
            # shutdown from disposing the application's engine.
            self.scheduler.pause()
            self.scheduler.remove_jobstore("default", shutdown=False)
            self.scheduler.shutdown(wait=wait)
        with _registry_lock:
            for job_id, work in self._work.items():
                if _registry.get(job_id) is work:
                    del _registry[job_id]

    def jobs(self) -> dict[str, Any]:
        return {job.id: job for job in self.scheduler.get_jobs()}


SCHEDULER_OUTBOX_KINDS = ("mail", "slack")


def slack_off() -> str:
    return "Slack is not configured: reminders and digests have nowhere to go"
