"""Intake benchmark: dsr-bot against the raw IMAP fetch rate, on a real Dovecot.

    .venv/bin/python bench/intake.py [--messages 2000] [--latency-samples 20]

Prints, from one run on this machine:
  * the ceiling: messages/s fetching the same folder with imapclient alone (BODY.PEEK[]);
  * `dsr-bot run --once` messages/s until every case is opened and every acknowledgement has
    been accepted by the SMTP server, and its ratio to the ceiling (target >= 0.5);
  * APPEND → acknowledgement-received latency while `dsr-bot run` idles (median, p95; target
    p95 < 2 s);
  * peak RSS of the bot process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiosmtpd.controller import Controller  # noqa: E402
from tests.fixtures.dovecot import DovecotServer, dovecot_binary, free_port  # noqa: E402

WORDS = [
    ("Radera mina uppgifter", "Hej, jag vill att ni raderar alla mina personuppgifter. Mvh {n}"),
    ("Registerutdrag", "Jag begär ett registerutdrag enligt artikel 15. Hälsningar {n}"),
    ("Data access request", "Please send me a copy of all personal data you hold on me. {n}"),
    ("Sluta skicka reklam", "Avregistrera mig från era nyhetsbrev tack. {n}"),
    ("Offert", "Hej, kan ni skicka en offert på 3 st ortoser till kliniken? /{n}"),
    ("Invoice 4711", "Please find attached our invoice for October. Regards {n}"),
]


def make_mail(i: int) -> bytes:
    subject, body = WORDS[i % len(WORDS)]
    msg = EmailMessage()
    msg["From"] = f"Person {i} <person{i}@bench.example>"
    msg["To"] = "personuppgiftsansvarig@micromedic.se"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="bench.example")
    msg.set_content(body.format(n=f"Person {i}") + "\n" + "Lorem ipsum dolor sit amet. " * 8)
    return msg.as_bytes()


class Sink:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.times.append(time.monotonic())
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.times)


def wait_count(sink: Sink, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while sink.count() < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sink.count()} of {n} acknowledgements arrived")
        time.sleep(0.005)
    return time.monotonic()


def raw_fetch_rate(account, n: int) -> float:
    client = account.client()
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    start = time.perf_counter()
    for i in range(0, len(uids), 200):
        client.fetch(uids[i : i + 200], ["BODY.PEEK[]", "INTERNALDATE", "RFC822.SIZE"])
    elapsed = time.perf_counter() - start
    client.logout()
    assert len(uids) == n, (len(uids), n)
    return n / elapsed


CLEANUP: list = []


def _drop_schema(postgres: str, schema: str) -> None:
    import sqlalchemy as sa

    with sa.create_engine(postgres).begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def database_url(postgres: str | None, root: Path) -> str:
    if not postgres:
        return f"sqlite:///{root / 'bench.sqlite3'}"
    import uuid

    import sqlalchemy as sa

    from dsr_bot.store import db

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(postgres).begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    CLEANUP.append(lambda: _drop_schema(postgres, schema))
    url = f"{postgres}{'&' if '?' in postgres else '?'}options=-csearch_path%3D{schema}"
    db.upgrade(db.make_engine(url))
    return url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--latency-samples", type=int, default=20)
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="run the bot on this PostgreSQL (a fresh schema is made) instead of SQLite",
    )
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
    root.chmod(0o755)
    server = DovecotServer(root, dovecot_binary())
    server.start()
    sink = Sink()
    smtp_port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        account = server.add_user()
        client = account.client()
        for i in range(args.messages):
            client.append("INBOX", make_mail(i))
        client.logout()
        requests = sum(1 for i in range(args.messages) if i % len(WORDS) < 4)

        ceiling = raw_fetch_rate(account, args.messages)

        env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_BOT_")}
        env.update(
            {
                f"DSR_BOT_{k.upper()}": str(v)
                for k, v in {
                    **account.settings_overrides(),
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp_port,
                    "smtp_security": "none",
                    "mail_from": "personuppgiftsansvarig@micromedic.se",
                    "controller_profile": REPO / "deploy" / "controller.example.toml",
                    "database_url": database_url(args.postgres, root),
                    "imap_poll_interval": 1,
                }.items()
            }
        )
        cmd = [sys.executable, "-m", "dsr_bot", "run"]

        # Start-up cost (imports, model load, schema), measured on its own to subtract it.
        t0 = time.monotonic()
        warm = subprocess.run(
            [*cmd, "--once"],
            env={**env, "DSR_BOT_IMAP_FOLDER": "Empty"},
            capture_output=True,
            text=True,
        )
        startup = time.monotonic() - t0
        if warm.returncode != 0:
            # an empty folder that does not exist yet: create and retry
            c = account.client()
            c.create_folder("Empty")
            c.logout()
            t0 = time.monotonic()
            subprocess.run(
                [*cmd, "--once"],
                env={**env, "DSR_BOT_IMAP_FOLDER": "Empty"},
                check=True,
                capture_output=True,
            )
            startup = time.monotonic() - t0

        t0 = time.monotonic()
        # stderr to a file, not a pipe nobody reads: the bot logs a line per message.
        with open(root / "run-once.log", "wb") as log_file:
            proc = subprocess.Popen([*cmd, "--once"], env=env, stderr=log_file)
            _, status, usage = os.wait4(proc.pid, 0)
        # The cycle hands every acknowledgement to SMTP before the process exits.
        done = time.monotonic()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit((root / "run-once.log").read_text()[-3000:])
        acknowledged = sink.count()
        total = done - t0
        intake_rate = args.messages / max(total - startup, 1e-9)
        peak_rss_mb = usage.ru_maxrss / 1024

        # Latency while idling in IDLE.
        base = sink.count()
        live = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        time.sleep(startup + 2)
        latencies = []
        client = account.client()
        first = args.messages + (-args.messages % len(WORDS))  # WORDS[0]: a request
        for k in range(args.latency_samples):
            i = first + k * len(WORDS)  # a request, from a fresh sender
            t_append = time.monotonic()
            client.append("INBOX", make_mail(i))
            t_ack = wait_count(sink, base + k + 1, timeout=60)
            latencies.append(t_ack - t_append)
            time.sleep(0.2)
        client.logout()
        live.terminate()
        live.wait(timeout=20)
    finally:
        smtp.stop()
        server.stop()
        for cleanup in CLEANUP:
            cleanup()

    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"messages                         {args.messages} ({requests} written as requests, "
        f"{acknowledged} acknowledged)"
    )
    print(f"raw imapclient fetch (ceiling)   {ceiling:8.1f} msg/s")
    print(f"dsr-bot run --once, wall         {total:8.2f} s (start-up {startup:.2f} s)")
    print(
        f"dsr-bot intake rate              {intake_rate:8.1f} msg/s "
        f"({intake_rate / ceiling:.2f} of ceiling; target >= 0.50)"
    )
    print(
        f"ack latency median / p95         {statistics.median(latencies):8.3f} s / "
        f"{p95:.3f} s (target p95 < 2 s)"
    )
    print(f"peak RSS (run --once)            {peak_rss_mb:8.1f} MB")
    print(
        f"bench harness RSS                "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.1f} MB"
    )


if __name__ == "__main__":
    main()
