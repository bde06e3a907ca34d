"""Fault tests (issue 16): the mail servers go away under a running `dsr-bot run`.

Real servers: Dovecot stopped as a whole process group (so the open IDLE session sees the
outage, as under systemd), and an aiosmtpd server stopped and started on the same port. Each
test ends with the ledger: nothing lost, nothing doubled, no acknowledgement missing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.bot import Bot, wait_until
from tests.fixtures.dovecot import free_port
from tests.fixtures.faults import Feeder, Sampler, http_get, ledger, start_bot, stop_bot, within
from tests.fixtures.smtp import SmtpSink, _Handler

pytestmark = [pytest.mark.faults, pytest.mark.slow]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

IMAP_BACK_WITHIN = 10.0  # issue 16: service back <= 10 s after the IMAP server returns
SMTP_BACKLOG_OUT_WITHIN = 30.0  # ... all queued acknowledgements out <= 30 s after SMTP returns
# 8 s in CI; the closing table also ran 20 s (the probe) with DSR_BOT_FAULT_IMAP_OUTAGE.
IMAP_OUTAGE = float(os.environ.get("DSR_BOT_FAULT_IMAP_OUTAGE", "8"))
# 20 s in CI to keep the suite's fault budget; the closing table used 60 (the number).
SMTP_OUTAGE = float(os.environ.get("DSR_BOT_FAULT_SMTP_OUTAGE", "20"))


def message_ids(sink: SmtpSink) -> list[str]:
    return [str(m["Message-ID"]) for m in sink.messages()]


def processed_at(url: str, message_id: str) -> float | None:
    import sqlalchemy as sa

    from dsr_bot.store.tables import InboundMessage

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.scalar(
                sa.select(InboundMessage.processed_at).where(
                    InboundMessage.message_id == message_id
                )
            )
    finally:
        engine.dispose()
    return value.timestamp() if value is not None else None


@sqlite_only
def test_dovecot_stopped_and_back(dovecot, mailbox, smtp_sink, bot: Bot, tmp_path) -> None:
    port = free_port()
    url = bot.settings["database_url"]
    log_file = tmp_path / "bot.log"
    proc = start_bot(bot, log_file, http_port=port)
    sampler = Sampler([port]).start()
    feeder = Feeder(mailbox, rate=2.0)
    try:
        wait_until(lambda: sampler.samples and sampler.samples[-1].ready == [200], timeout=60)
        feeder.start()
        time.sleep(4)
        down_at = time.time()
        dovecot.stop()  # SIGTERM to the whole process group: open sessions get BYE / EOF
        time.sleep(IMAP_OUTAGE)
        dovecot.start()
        back_at = time.time()
        probe = feeder.one()  # the first mail after the return
        within(lambda: processed_at(url, probe), timeout=30, interval=0.1)
        back_after = (processed_at(url, probe) or float("inf")) - back_at
        ready = within(lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200, 30)
        ready_after = time.time() - back_at if ready is not None else float("inf")
        time.sleep(3)
        feeder.stop()
        within(
            lambda: (
                ledger(url, feeder, message_ids(smtp_sink)).missing_acks == 0
                and ledger(url, feeder, []).cases == len(feeder.sent)
            ),
            60,
        )
        alive = proc.poll() is None
    finally:
        feeder.stop()
        sampler.stop()
        if not dovecot.is_running:
            dovecot.start()
        code, log = stop_bot(proc, log_file)
        if sys.exc_info()[0] is not None:
            print(f"\n--- bot log (exit {code})\n{log[-3000:]}")
    result = ledger(url, feeder, message_ids(smtp_sink))
    during = sampler.between(down_at + 2, back_at)
    print(
        f"\nDovecot down {back_at - down_at:.1f} s: mail processed {back_after:.1f} s after "
        f"return; readyz during {sorted({s.ready[0] for s in during})}, 200 again "
        f"{ready_after:.1f} s after return; exit {code}; {result}"
    )
    assert alive, "the bot exited during the IMAP outage"
    assert code == 0, log[-3000:]
    result.assert_clean()
    assert back_after <= IMAP_BACK_WITHIN
    assert during and all(s.ready[0] == 503 for s in during)
    assert all(not s.details[0]["imap"]["ok"] for s in during if s.details[0])
    assert ready_after <= IMAP_BACK_WITHIN
    assert sampler.max_leaders() == 1


@pytest.fixture
def stoppable_smtp() -> Iterator[tuple[SmtpSink, list[Controller]]]:
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)
    controllers = [Controller(_Handler(sink), hostname="127.0.0.1", port=port)]
    controllers[0].start()
    try:
        yield sink, controllers
    finally:
        for controller in controllers:
            with contextlib.suppress(Exception):  # already stopped by the test
                controller.stop()


@sqlite_only
def test_smtp_stopped_then_backlog_pulled_forward(
    mailbox, bot: Bot, stoppable_smtp, tmp_path
) -> None:
    sink, controllers = stoppable_smtp
    port = free_port()
    url = bot.settings["database_url"]
    log_file = tmp_path / "bot.log"
    proc = start_bot(bot, log_file, http_port=port, smtp_port=str(sink.port))
    feeder = Feeder(mailbox, rate=2.0)
    try:
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=60)
        feeder.start()
        time.sleep(4)
        controllers[0].stop()  # the SMTP server goes away
        down_at = time.time()
        time.sleep(SMTP_OUTAGE)
        queued_during = len(feeder.sent)
        restarted = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port)
        restarted.start()
        controllers.append(restarted)
        back_at = time.time()
        feeder.stop()
        out = within(
            lambda: (
                ledger(url, feeder, message_ids(sink)).missing_acks == 0
                and ledger(url, feeder, message_ids(sink)).cases == len(feeder.sent)
            ),
            timeout=150,
            interval=0.2,
        )
        all_out_after = time.time() - back_at if out is not None else float("inf")
        alive = proc.poll() is None
    finally:
        feeder.stop()
        code, log = stop_bot(proc, log_file)
        if sys.exc_info()[0] is not None:
            print(f"\n--- bot log (exit {code})\n{log[-3000:]}")
    result = ledger(url, feeder, message_ids(sink))
    warnings = [line for line in log.splitlines() if "transport failing" in line]
    per_item = [line for line in log.splitlines() if "attempt failed" in line]
    print(
        f"\nSMTP down {back_at - down_at:.0f} s ({queued_during} requests by then): every ack "
        f"out {all_out_after:.1f} s after return; {len(warnings)} breaker warning(s), "
        f"{len(per_item)} per-item warning(s); exit {code}; {result}"
    )
    assert alive, "the bot exited during the SMTP outage"
    assert code == 0, log[-3000:]
    result.assert_clean()
    assert all_out_after <= SMTP_BACKLOG_OUT_WITHIN
    assert 1 <= len(warnings) <= 2  # one per transport per minute, not one per item
    assert not per_item
