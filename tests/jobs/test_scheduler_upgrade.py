"""A job store written by a release whose job function lived elsewhere still starts."""

from __future__ import annotations

import pickle

import sqlalchemy as sa

from dsr_bot.jobs import scheduler as sched
from tests.ops_support import open_db

TZ = "Europe/Stockholm"


def _make(engine: sa.Engine) -> sched.DsrScheduler:
    work = dict.fromkeys(sched.JOB_IDS, lambda: None)
    return sched.DsrScheduler(engine, work, sched.job_specs(timezone=TZ), timezone=TZ)


def test_jobs_stored_under_the_old_module_path_are_replaced(database_url: str) -> None:
    engine, _ = open_db(database_url)
    first = _make(engine)
    first.start(paused=True)
    first.shutdown()
    table = sa.table(sched.JOBS_TABLE, sa.column("id"), sa.column("job_state"))
    with engine.begin() as conn:
        for job_id, blob in conn.execute(sa.select(table.c.id, table.c.job_state)).all():
            state = pickle.loads(blob)
            state["func"] = "dsr_bot.scheduler:_run_job"  # where 0.1 kept it
            conn.execute(
                table.update().where(table.c.id == job_id).values(job_state=pickle.dumps(state))
            )

    second = _make(engine)
    second.start(paused=True)
    jobs = second.jobs()
    second.shutdown()
    assert set(jobs) == set(sched.JOB_IDS)
    assert {job.func_ref for job in jobs.values()} == {sched.JOB_FUNCTION}
    engine.dispose()
