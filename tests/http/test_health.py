"""/healthz, /readyz and /metrics: against the real watcher, Dovecot, SMTP server and both DBs."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dsr_bot import outbox
from dsr_bot.bootstrap import App, LoadingClassifier, build_app, open_database, start_http
from dsr_bot.classify.worker import ProcessClassifier
from dsr_bot.config import Settings, load_settings
from dsr_bot.http import health
from dsr_bot.intake.watcher import MailboxWatcher
from dsr_bot.mail.smtp import EmlDirectoryTransport
from dsr_bot.store import db
from dsr_bot.store.tables import Case, InboundMessage
from tests.fixtures.bot import Bot, wait_until
from tests.fixtures.dovecot import free_port
from tests.intake.test_intake_e2e import EN_ACCESS


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready(base: str) -> tuple[int, dict[str, Any]]:
    status, body = get(base + "/readyz")
    return status, json.loads(body)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def processed(app: App) -> int:
    with app.factory() as session:
        return session.scalar(
            sa.select(sa.func.count()).where(InboundMessage.processed_at.is_not(None))
        )


def settings_for(bot: Bot, **extra: Any) -> Settings:
    return load_settings(None, **{**bot.settings, **extra})


@contextmanager
def serving(app: App) -> Iterator[tuple[health.HealthServer, MailboxWatcher]]:
    """The leader's watcher running in a thread, with the HTTP server reporting on it."""
    stop = threading.Event()
    watcher = MailboxWatcher(app, stop)
    server = start_http(app, watcher)
    assert server is not None
    worker = threading.Thread(target=watcher.run_forever, daemon=True)
    worker.start()
    try:
        yield server, watcher
    finally:
        stop.set()
        worker.join(timeout=30)
        server.stop()
    assert not worker.is_alive()


def test_readyz_flips_when_dovecot_stops_and_recovers(dovecot, mailbox, smtp_sink, bot: Bot):
    app = build_app(settings_for(bot, http_port=free_port()))
    with serving(app) as (server, watcher):
        base = server.url
        try:
            status, body = wait_until(lambda: (r := ready(base))[0] == 200 and r, timeout=30)
            assert body["status"] == "ready"
            ok = {n for n, c in body["checks"].items() if c["ok"]}
            assert ok == {"classifier", "database", "imap", "outbox"}

            mailbox.append(EN_ACCESS)
            wait_until(lambda: not app.intake.pending_ids() and processed(app) == 1, timeout=30)
            status, text = get(base + "/metrics")
            assert status == 200
            assert metric(text, "dsr_bot_database_up") == 1
            assert metric(text, "dsr_bot_cases_overdue") == 0
            assert "karin" not in text.lower() and "smith" not in text.lower()

            dovecot.stop()
            status, body = wait_until(lambda: (r := ready(base))[0] == 503 and r, timeout=30)
            assert body["status"] == "not ready"
            assert body["checks"]["imap"]["ok"] is False
            assert body["checks"]["database"]["ok"] is True
            assert get(base + "/healthz")[0] == 200  # alive: a restart would not help

            dovecot.start()
            wait_until(lambda: ready(base)[0] == 200, timeout=60)
            assert watcher.reconnects >= 1
        finally:
            if not dovecot.is_running:
                dovecot.start()


def test_endpoint_is_off_unless_a_port_is_set(mailbox, smtp_sink, bot: Bot):
    app = build_app(settings_for(bot))
    assert app.settings.http_port is None
    assert start_http(app, MailboxWatcher(app)) is None


def test_outbox_stuck_makes_not_ready_and_metrics_read_the_database(
    database_url: str, tmp_path: Path
):
    settings: Settings = load_settings(None, database_url=database_url)
    if not settings.is_sqlite:
        db.upgrade(db.make_engine(database_url))
    engine, factory = open_database(settings)
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        outbox.enqueue(session, key="t:1", kind="mail", purpose="acknowledgement", now=now)
        session.add(
            Case(
                ref="DSR-2026-0001",
                types=["access"],
                status="open",
                language="sv",
                received_at=now - timedelta(days=40),
                due_on=date.today() - timedelta(days=5),
                identity_status="unverified",
                opened_at=now - timedelta(days=40),
            )
        )
    box = outbox.Outbox(factory, {"mail": EmlDirectoryTransport(tmp_path)}, clock=lambda: now)
    fresh = health.outbox_check(box.backlog, clock=lambda: now + timedelta(minutes=5))
    stuck = health.outbox_check(box.backlog, clock=lambda: now + timedelta(minutes=16))
    assert fresh().ok is True
    result = stuck()
    assert result.ok is False and "stuck" in result.detail
    # Items of a kind this process cannot send (Slack not configured) are not "stuck" here.
    slackless = outbox.Outbox(
        factory, {"slack": EmlDirectoryTransport(tmp_path)}, clock=lambda: now
    )
    assert slackless.backlog() == (0, None)
    # A dead item fails readiness however young: a person must act.
    dead = health.outbox_check(box.backlog, clock=lambda: now, dead=lambda: 1)
    assert dead().ok is False and "given up" in dead().detail

    from dsr_bot.http import metrics

    readiness = health.Readiness()
    readiness.register("database", health.database_check(engine))
    readiness.register("outbox", stuck)
    collector = metrics.DatabaseCollector(factory, clock=lambda: now + timedelta(seconds=90))
    server = health.HealthServer(
        "127.0.0.1", 0, readiness, health.scrape_registry([collector])
    ).start()
    try:
        status, body = ready(server.url)
        assert status == 503
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["outbox"]["ok"] is False
        _, text = get(server.url + "/metrics")
        assert metric(text, 'dsr_bot_outbox_backlog{kind="mail"}') == 1
        assert 89 <= metric(text, "dsr_bot_outbox_oldest_age_seconds") <= 91
        assert metric(text, "dsr_bot_cases_overdue") == 1
        assert get(server.url + "/nope")[0] == 404
    finally:
        server.stop()


def test_unreachable_database_is_reported_not_raised():
    from dsr_bot.http import metrics
    from dsr_bot.store.db import make_engine, session_factory

    engine = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    readiness = health.Readiness(timeout=1.0)  # the hanging check must not hang the probe
    readiness.register("database", health.database_check(engine))
    readiness.register("hangs", lambda: time.sleep(3) or True)
    collector = metrics.DatabaseCollector(session_factory(engine))
    server = health.HealthServer(
        "127.0.0.1", 0, readiness, health.scrape_registry([collector])
    ).start()
    try:
        began = time.monotonic()
        status, body = ready(server.url)
        assert time.monotonic() - began < 5
        assert status == 503
        assert body["checks"]["database"] == {
            "ok": False,
            "detail": "cannot query the database (OperationalError)",
        }
        assert body["checks"]["hangs"]["ok"] is False
        status, text = get(server.url + "/metrics")
        assert status == 200 and metric(text, "dsr_bot_database_up") == 0
    finally:
        server.stop()


def test_port_in_use_is_a_configuration_error():
    from dsr_bot.config import ConfigError

    first = health.HealthServer("127.0.0.1", 0, health.Readiness())
    try:
        with pytest.raises(ConfigError, match="DSR_BOT_HTTP_PORT"):
            health.HealthServer("127.0.0.1", first.port, health.Readiness())
    finally:
        first.stop()


def test_standby_instance_reports_imap_as_standby(mailbox, smtp_sink, bot: Bot):
    app = build_app(settings_for(bot, http_port=free_port()))
    server = start_http(app)  # not the leader: no watcher of its own
    assert server is not None
    try:
        status, body = ready(server.url)
        assert status == 200
        assert body["checks"]["imap"] == {
            "ok": True,
            "detail": "standby: the leader instance watches the mailbox",
        }
        watcher = MailboxWatcher(app)  # elected: the leader swaps in the real check
        server.readiness.register("imap", health.imap_check(watcher))
        status, body = ready(server.url)
        assert status == 503 and body["checks"]["imap"]["ok"] is False  # not connected yet
    finally:
        server.stop()


def test_a_model_that_fails_to_load_is_not_ready_and_decides_nothing(mailbox, smtp_sink, bot: Bot):
    def broken_model() -> Any:
        raise OSError("model/config.cfg: unreadable")  # as a damaged installation would

    app = build_app(
        settings_for(bot, http_port=free_port()), classifier=LoadingClassifier(broken_model)
    )
    with serving(app) as (server, _):
        mailbox.append(EN_ACCESS)
        wait_until(lambda: app.intake.pending_ids(), timeout=30)  # stored, not decided
        status, body = ready(server.url)
        assert status == 503
        assert body["checks"]["classifier"] == {"ok": False, "detail": "not loaded (OSError)"}
        time.sleep(3)  # a cycle or two retried meanwhile
        with app.factory() as session:
            row = session.scalars(sa.select(InboundMessage)).one()
            # Waiting, not parked: no attempt was counted against the mail.
            assert (row.processed_at, row.attempts) == (None, 0)


def test_with_the_classifier_in_a_worker_ready_means_loaded_there(mailbox, smtp_sink, bot: Bot):
    app = build_app(settings_for(bot, http_port=free_port(), classifier_process=True))
    worker = app.intake.classifier.inner
    assert isinstance(worker, ProcessClassifier)
    try:
        with serving(app) as (server, _):
            wait_until(lambda: ready(server.url)[0] == 200, timeout=30)
            wait_until(
                lambda: (
                    ready(server.url)[1]["checks"]["classifier"]["detail"]
                    == ("loaded (worker process)")
                ),
                timeout=30,
            )
            mailbox.append(EN_ACCESS)
            wait_until(lambda: processed(app) == 1, timeout=30)
            with app.factory() as session:
                row = session.scalars(sa.select(InboundMessage)).one()
                assert row.disposition == "case" and row.labels == ["access"]
    finally:
        worker.close()


def test_a_worker_whose_model_fails_to_load_is_not_ready_and_decides_nothing(
    tmp_path: Path, mailbox, smtp_sink, bot: Bot
):
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "meta.json").write_text("{}")
    (broken / "config.cfg").write_text("[nlp\n")
    worker = ProcessClassifier(0.5, 0.2, model_dir=broken)
    app = build_app(settings_for(bot, http_port=free_port()), classifier=worker)
    try:
        with serving(app) as (server, _):
            mailbox.append(EN_ACCESS)
            wait_until(lambda: app.intake.pending_ids(), timeout=30)
            _, body = wait_until(lambda: (r := ready(server.url))[0] == 503 and r, timeout=30)
            assert body["checks"]["classifier"] == {
                "ok": False,
                "detail": "not loaded (worker process)",
            }
            time.sleep(3)
            with app.factory() as session:
                row = session.scalars(sa.select(InboundMessage)).one()
                assert (row.processed_at, row.attempts) == (None, 0)
    finally:
        worker.close()
