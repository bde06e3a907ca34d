"""Fault tests (issue 16): PostgreSQL restarts and stops under two `dsr-bot run` instances.

The test owns its cluster (`PgCluster`: initdb into a temp dir, as `postgres` when root), so
it can `pg_ctl restart -m fast` and stop it for a minute without touching the suite's shared
server. Two real `dsr-bot run` processes share it and one Dovecot mailbox. Throughout, a
sampler asks both instances for their own `dsr_bot_leader` gauge and `/readyz`: never two
leaders at one sample. The end is the ledger: nothing lost, nothing doubled, no ack missing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.bot import Bot, wait_until
from tests.fixtures.dovecot import free_port
from tests.fixtures.faults import Feeder, PgCluster, Sampler, ledger, start_bot, stop_bot, within

pytestmark = [pytest.mark.faults, pytest.mark.slow]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RESTART_STALL = 5.0  # issue 16: after a 0.3 s restart, intake stalls <= 5 s
# Issue 16 names a 60 s stop with two instances; the closing table also ran one instance
# with a 30 s stop (DSR_BOT_FAULT_INSTANCES=1 DSR_BOT_FAULT_PG_STOP=30).
STOP_SECONDS = float(os.environ.get("DSR_BOT_FAULT_PG_STOP", "60"))
INSTANCES = int(os.environ.get("DSR_BOT_FAULT_INSTANCES", "2"))
# The code before issue 16 exited 2 when started with the database down; to measure its
# restart behaviour at all, DSR_BOT_FAULT_START_DOWN=0 starts it with the database up.
START_DOWN = os.environ.get("DSR_BOT_FAULT_START_DOWN", "1") == "1"
RECOVERED_WITHIN = 15.0  # after the stop: the mail that waited is processed this soon


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    pg = PgCluster()
    pg.start()
    try:
        from dsr_bot.store import db

        engine = db.make_engine(pg.url)
        db.upgrade(engine)
        engine.dispose()
        yield pg
    finally:
        pg.destroy()


def message_ids(sink) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m["Message-ID"]) for m in sink.messages()]


def instances(bot: Bot, url: str, logs: Path) -> tuple[list, list[int]]:  # type: ignore[type-arg]
    ports = [free_port() for _ in range(INSTANCES)]
    procs = [
        start_bot(bot, logs / f"bot{n}.log", http_port=p, database_url=url)
        for n, p in enumerate(ports)
    ]
    return procs, ports


def settle(sampler: Sampler, timeout: float = 60) -> None:
    """Every instance answers and is ready, and one leads (code without the leader gauge,
    as before issue 16, reports -1: then readiness alone is waited for)."""

    def settled() -> bool:
        if not sampler.samples:
            return False
        last = sampler.samples[-1]
        gauges = [v for v in last.leaders if v != -1]
        one_leads = not gauges or sum(v == 1 for v in gauges) == 1
        return one_leads and all(code == 200 for code in last.ready)

    wait_until(settled, timeout=timeout, interval=0.2)


def stall(latencies: list[float], baseline: float) -> float:
    """How much longer than usual the slowest mail waited: the intake stall the fault caused
    (the usual latency, classification on a shared CI machine, is not the fault's)."""
    return max(latencies, default=0.0) - baseline


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


@sqlite_only  # the `bot` fixture's own database is not used: the cluster's is
def test_pg_restart_fast_with_two_instances(
    mailbox, smtp_sink, bot: Bot, cluster, tmp_path: Path
) -> None:
    if START_DOWN:
        cluster.stop()  # the instances start while the database is down: they wait for it
    procs, ports = instances(bot, cluster.url, tmp_path)
    sampler = Sampler(ports).start()
    feeder = Feeder(mailbox, rate=2.0)
    try:
        time.sleep(3)
        waited = [p.poll() is None for p in procs]
        if START_DOWN:
            cluster.start()
        settle(sampler)
        feeder.start()
        time.sleep(4)
        before = set(feeder.sent)
        began = time.monotonic()
        cluster.restart()
        took = time.monotonic() - began
        time.sleep(6)
        alive = [p.poll() is None for p in procs]
        feeder.stop()
        done = within(
            lambda: (
                ledger(cluster.url, feeder, message_ids(smtp_sink)).missing_acks == 0
                # Every mail a case, not only stored: a stored mail not yet decided has no
                # acknowledgement to miss, and the stop below would leave its ack unsent.
                and ledger(cluster.url, feeder, []).cases == len(feeder.sent)
            ),
            timeout=60,
        )
        if done is not None:
            settle(sampler)
    finally:
        feeder.stop()
        sampler.stop()
        results = [stop_bot(p, tmp_path / f"bot{n}.log") for n, p in enumerate(procs)]
        if sys.exc_info()[0] is not None:
            for code, log in results:
                print(f"\n--- bot log (exit {code})\n{log[-3000:]}")
    result = ledger(cluster.url, feeder, message_ids(smtp_sink))
    usual = median([result.latency[m] for m in before if m in result.latency])
    stalled = stall(result.latencies, usual)
    print(
        f"\npg restart -m fast ({took:.1f} s) under {INSTANCES} instance(s): waited for the "
        f"database at start {waited}; alive {alive}; stall "
        f"{stalled:.1f} s (slowest {max(result.latencies, default=0):.1f} s, usual {usual:.1f} "
        f"s; all mail done: {done is not None}); max "
        f"leaders at a sample {sampler.max_leaders()}; "
        f"exit {[c for c, _ in results]}; {result}"
    )
    assert all(waited) and all(alive) and done is not None
    assert [c for c, _ in results] == [0] * INSTANCES, [log[-2000:] for _, log in results]
    result.assert_clean()
    assert sampler.max_leaders() == 1
    assert stalled <= RESTART_STALL


@sqlite_only
def test_pg_stopped_a_minute_with_two_instances(
    mailbox, smtp_sink, bot: Bot, cluster, tmp_path: Path
) -> None:
    procs, ports = instances(bot, cluster.url, tmp_path)
    sampler = Sampler(ports).start()
    feeder = Feeder(mailbox, rate=1.0)
    try:
        settle(sampler)
        feeder.start()
        time.sleep(3)
        cluster.stop()
        down_at = time.time()
        time.sleep(STOP_SECONDS)
        alive = [p.poll() is None for p in procs]
        # The outage ends when the start begins: a sample taken while `start()` waits for
        # the server to accept connections may rightly be ready already.
        restarting_at = time.time()
        cluster.start()
        back_at = time.time()
        time.sleep(2)
        feeder.stop()
        waiting = [m for m, t in feeder.sent.items() if t < back_at]
        done = within(
            lambda: (
                ledger(cluster.url, feeder, message_ids(smtp_sink)).missing_acks == 0
                # Every mail a case, not only stored: a stored mail not yet decided has no
                # acknowledgement to miss, and the stop below would leave its ack unsent.
                and ledger(cluster.url, feeder, []).cases == len(feeder.sent)
            ),
            timeout=60,
        )
        recovered = time.time() - back_at if done is not None else float("inf")
        if done is not None:
            settle(sampler)
    finally:
        feeder.stop()
        sampler.stop()
        results = [stop_bot(p, tmp_path / f"bot{n}.log") for n, p in enumerate(procs)]
        if sys.exc_info()[0] is not None:
            for code, log in results:
                print(f"\n--- bot log (exit {code})\n{log[-3000:]}")
    result = ledger(cluster.url, feeder, message_ids(smtp_sink))
    during = sampler.between(down_at + 5, restarting_at)
    print(
        f"\npg stopped {back_at - down_at:.0f} s under {INSTANCES} instance(s): alive {alive}; "
        f"{len(waiting)} mail(s) waited, all done {recovered:.1f} s after return; readyz "
        f"during {sorted({c for s in during for c in s.ready})}; max leaders "
        f"{sampler.max_leaders()}; exit {[c for c, _ in results]}; {result}"
    )
    assert all(alive), "an instance exited during the outage"
    assert [c for c, _ in results] == [0] * INSTANCES, [log[-2000:] for _, log in results]
    result.assert_clean()
    assert sampler.max_leaders() == 1
    assert during and all(s.ready == [503] * INSTANCES for s in during)
    assert all(
        not d["database"]["ok"] and not d["leader"]["ok"] for s in during for d in s.details if d
    )
    assert done is not None
    assert recovered <= RECOVERED_WITHIN
