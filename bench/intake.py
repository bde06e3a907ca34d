"""Intake benchmark: a backlog through `dsr-bot run --once` against the classifier's own
rate, on a real Dovecot and a real SMTP server.

    .venv/bin/python bench/intake.py [--messages 2000] [--latency-samples 20]
                                     [--postgres URL [--only-postgres]]

Prints, from one run on this machine, once and then for each database (SQLite, and with
`--postgres` a fresh schema on that server, each with a backlog of its own):
  * raw fetch: messages/s fetching the same folder with imapclient alone (BODY.PEEK[]);
  * `nlp.pipe` of the shipped model over the same mails (the model input intake builds), on
    one core, in this process: the classifier's own rate;
  * `dsr-bot run --once` messages/s from fetch until every case is opened and every
    acknowledgement has been accepted by the SMTP server, and its ratio to `nlp.pipe`
    (target >= 0.5);
  * the bot's RSS after about 1k, 10k and 50k messages (those the backlog reaches; with
    `--classifier-process`, the bot's and its worker's summed) and the peaks: the bot's own,
    the sum of the bot and its worker (sampled), and the kernel's largest of the tree;
  * start to ready: from `dsr-bot run` to `/readyz` = 200;
  * APPEND → acknowledgement-received latency while `dsr-bot run` idles (median, p95; target
    p95 <= 1 s);
  * the load average before and after, so a noisy machine shows in the figures.
"""

from __future__ import annotations

import os

# One core for BLAS, as bench/classify.py measures the model; the bot inherits it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.utils import make_msgid  # noqa: E402
from pathlib import Path  # noqa: E402

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


LOREM = "Lorem ipsum dolor sit amet. " * 8


def make_mail(i: int) -> bytes:
    subject, body = WORDS[i % len(WORDS)]
    msg = EmailMessage()
    msg["From"] = f"Person {i} <person{i}@bench.example>"
    msg["To"] = "personuppgiftsansvarig@micromedic.se"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="bench.example")
    msg.set_content(body.format(n=f"Person {i}") + "\n" + LOREM)
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


def raw_fetch_rate(account, n: int, folder: str = "INBOX") -> float:  # type: ignore[no-untyped-def]
    client = account.client()
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    start = time.perf_counter()
    for i in range(0, len(uids), 200):
        client.fetch(uids[i : i + 200], ["BODY.PEEK[]", "INTERNALDATE", "RFC822.SIZE"])
    elapsed = time.perf_counter() - start
    client.logout()
    assert len(uids) == n, (len(uids), n)
    return n / elapsed


CLEANUP: list = []
BOTS: list[subprocess.Popen] = []


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


def classifier_rate(n: int) -> float:
    """`nlp.pipe` of the shipped model over the model input of the benchmark's own mails."""
    from collections import deque

    from dsr_bot.classify.spacy_classifier import load_pipeline, model_input

    nlp = load_pipeline()
    texts = []
    for i in range(n):
        subject, body = WORDS[i % len(WORDS)]
        texts.append(model_input(subject, body.format(n=f"Person {i}") + "\n" + LOREM))
    deque(nlp.pipe(texts[:256], batch_size=256), maxlen=0)  # warm up
    start = time.perf_counter()
    deque(nlp.pipe(texts, batch_size=256), maxlen=0)
    return n / (time.perf_counter() - start)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a running process, in kB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {
        key: int(value.split()[0])
        for key, value in (line.split(":", 1) for line in lines if ":" in line)
        if key in ("VmRSS", "VmHWM")
    }


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def tree_rss_kb(pid: int) -> int:
    """VmRSS of a process and its descendants (the classifier worker), in kB."""
    total = proc_status(pid).get("VmRSS", 0)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(tree_rss_kb(int(child)) for child in children)


class RssProbe(threading.Thread):
    """Samples the bot's RSS and how many messages it has decided (from its database), and
    keeps the RSS the first time the count passes each checkpoint."""

    def __init__(self, pid: int, database_url: str, checkpoints: list[int]) -> None:
        super().__init__(daemon=True)
        import sqlalchemy as sa

        self.pid = pid
        self.engine = sa.create_engine(database_url)
        self.pending = sorted(checkpoints)
        self.at: dict[int, float] = {}
        self.peak_mb = 0.0
        self.tree_peak_mb = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        import sqlalchemy as sa

        query = sa.text("SELECT count(*) FROM inbound_message WHERE processed_at IS NOT NULL")
        while not self.done.is_set():
            status = proc_status(self.pid)
            if status:
                self.peak_mb = max(self.peak_mb, status.get("VmHWM", 0) / 1024)
                self.tree_peak_mb = max(self.tree_peak_mb, tree_rss_kb(self.pid) / 1024)
            try:
                with self.engine.connect() as conn:
                    decided = int(conn.execute(query).scalar_one())
            except Exception:
                decided = 0  # the schema is not there yet
            while self.pending and decided >= self.pending[0] and status:
                self.at[self.pending.pop(0)] = tree_rss_kb(self.pid) / 1024
            self.done.wait(0.2)
        self.engine.dispose()


def wait_ready(port: int, timeout: float = 60) -> float:
    import urllib.error
    import urllib.request

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.01)
    raise SystemExit("the bot did not become ready")


def bot_env(account, smtp_port: int, url: str, messages: int, worker: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
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
                "database_url": url,
                "imap_poll_interval": 1,
                # A backlog of distinct requesters: the hourly acknowledgement cap (a
                # guard against forged-From floods) would otherwise stop at 200.
                "ack_limit_per_hour": messages * 2,
                "classifier_process": str(worker).lower(),
            }.items()
        }
    )
    return env


def fill_inbox(account, first: int, count: int, folder: str = "INBOX") -> None:  # type: ignore[no-untyped-def]
    client = account.client()
    if folder != "INBOX":
        client.create_folder(folder)
    for start in range(first, first + count, 500):  # MULTIAPPEND: a 50k backlog in seconds
        client.multiappend(
            folder, [make_mail(i) for i in range(start, min(start + 500, first + count))]
        )
    client.logout()


def measure(
    label: str, account, sink: Sink, smtp_port: int, url: str, args, root: Path, first: int
) -> dict:  # type: ignore[no-untyped-def]
    """One database: the backlog through `run --once`, then start to ready and the latency
    of single mails while `run` idles. `first` numbers the backlog's mails (fresh senders)."""
    env = bot_env(account, smtp_port, url, args.messages, args.classifier_process)
    cmd = [sys.executable, "-m", "dsr_bot", "run"]
    fill_inbox(account, first, args.messages)
    requests = sum(1 for i in range(first, first + args.messages) if i % len(WORDS) < 4)

    # Start-up cost (imports, model load, schema), measured on its own to subtract it.
    t0 = time.monotonic()
    before = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    subprocess.run(
        [*cmd, "--once"],
        env={**env, "DSR_BOT_IMAP_FOLDER": "Empty"},
        check=True,
        capture_output=True,
    )
    startup = time.monotonic() - t0
    startup_cpu = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before

    base = sink.count()
    t0 = time.monotonic()
    own_cpu = _cpu(resource.getrusage(resource.RUSAGE_SELF))
    # stderr to a file, not a pipe nobody reads: the bot logs a line per message.
    log_path = root / f"run-once-{label}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([*cmd, "--once"], env=env, stderr=log_file)
        BOTS.append(proc)
        probe = RssProbe(proc.pid, url, [1_000, 10_000, 50_000])
        probe.start()
        _, status, usage = os.wait4(proc.pid, 0)
    # The cycle hands every acknowledgement to SMTP before the process exits.
    done = time.monotonic()
    own_cpu = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - own_cpu
    probe.done.set()
    probe.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(log_path.read_text()[-3000:])
    acknowledged = sink.count() - base
    total = done - t0

    # Start to ready, then latency while idling in IDLE.
    http_port = free_port()
    base = sink.count()
    t_start = time.monotonic()
    live_log = open(root / f"live-{label}.log", "wb")  # noqa: SIM115 (closed below)
    live = subprocess.Popen(
        [*cmd, "-v"], env={**env, "DSR_BOT_HTTP_PORT": str(http_port)}, stderr=live_log
    )
    BOTS.append(live)
    ready = wait_ready(http_port)
    assert abs(ready - (time.monotonic() - t_start)) < 1
    time.sleep(1)
    latencies = []
    missed = 0
    client = account.client()
    next_free = first + args.messages + (-(first + args.messages) % len(WORDS))
    for k in range(args.latency_samples):
        i = next_free + k * len(WORDS)  # WORDS[0]: a request, from a fresh sender
        t_append = time.monotonic()
        client.append("INBOX", make_mail(i))
        try:
            t_ack = wait_count(sink, base + k + 1 - missed, timeout=30)
        except SystemExit:
            missed += 1  # counted as 30 s, and shown with the bot's log below
            t_ack = t_append + 30
        latencies.append(t_ack - t_append)
        time.sleep(0.2)
    client.logout()
    live.terminate()
    live.wait(timeout=20)
    live_log.close()
    latencies.sort()
    return {
        "label": label,
        "requests": requests,
        "acknowledged": acknowledged,
        "total": total,
        "startup": startup,
        "rate": args.messages / max(total - startup, 1e-9),
        "ready": ready,
        "median": statistics.median(latencies),
        "p95": latencies[max(0, round(0.95 * len(latencies)) - 1)],
        "missed": missed,
        "rss": dict(sorted(probe.at.items())),
        "peak": usage.ru_maxrss / 1024,
        # CPU per message: the bot with its reaped worker; this process (the SMTP server the
        # acknowledgements go to, and the probe).
        "bot_cpu_ms": 1000 * (_cpu(usage) - startup_cpu) / args.messages,
        "bench_cpu_ms": 1000 * own_cpu / args.messages,
        "own_peak": probe.peak_mb,
        "tree_peak": probe.tree_peak_mb,
        "next": next_free + args.latency_samples * len(WORDS),
        "live_log": root / f"live-{label}.log",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--latency-samples", type=int, default=20)
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="also run the bot on this PostgreSQL (a fresh schema is made), after SQLite",
    )
    ap.add_argument("--only-postgres", action="store_true", help="skip the SQLite run")
    ap.add_argument(
        "--classifier-process",
        action="store_true",
        help="run the bot with DSR_BOT_CLASSIFIER_PROCESS=true (the model in a worker)",
    )
    args = ap.parse_args()
    load_before = os.getloadavg()

    root = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
    root.chmod(0o755)
    server = DovecotServer(root, dovecot_binary())
    server.start()
    sink = Sink()
    smtp_port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    results = []
    try:
        account = server.add_user()
        fill_inbox(account, 0, args.messages, folder="Fetch")  # the fetch measurement's own
        ceiling = raw_fetch_rate(account, args.messages, folder="Fetch")
        pipe_rate = classifier_rate(args.messages)
        c = account.client()
        c.create_folder("Empty")
        c.logout()
        databases = [] if args.only_postgres else [("SQLite", None)]
        if args.postgres:
            databases.append(("PostgreSQL", args.postgres))
        first = 0
        for label, postgres in databases:
            url = database_url(postgres, root)
            results.append(measure(label, account, sink, smtp_port, url, args, root, first))
            first = results[-1]["next"]
    finally:
        for proc in BOTS:
            if proc.poll() is None:  # never leave a bot behind against a stopped server
                proc.kill()
                proc.wait()
        smtp.stop()
        server.stop()
        for cleanup in CLEANUP:
            cleanup()

    load_after = os.getloadavg()
    print(f"messages                         {args.messages} per database")
    print(f"raw imapclient fetch             {ceiling:8.1f} msg/s")
    print(f"nlp.pipe (shipped model)         {pipe_rate:8.1f} msg/s")
    for r in results:
        print(f"-- {r['label']}")
        print(f"requests / acknowledged          {r['requests']} / {r['acknowledged']}")
        print(
            f"dsr-bot run --once, wall         {r['total']:8.2f} s (start-up {r['startup']:.2f} s)"
        )
        print(
            f"dsr-bot run --once backlog rate  {r['rate']:8.1f} msg/s "
            f"({r['rate'] / pipe_rate:.2f} of nlp.pipe; target >= 0.50)"
        )
        print(
            f"CPU per message                  {r['bot_cpu_ms']:8.2f} ms the bot (and worker), "
            f"{r['bench_cpu_ms']:.2f} ms this process (SMTP server, probe); "
            f"wall {1000 / r['rate']:.2f} ms"
        )
        print(f"start to ready (/readyz 200)     {r['ready']:8.2f} s (target <= 1.5 s)")
        print(
            f"ack latency median / p95         {r['median']:8.3f} s / "
            f"{r['p95']:.3f} s (target p95 <= 1 s)"
        )
        if r["missed"]:
            print(f"acks not seen within 30 s         {r['missed']} (bot log: {r['live_log']})")
        for n, mb in r["rss"].items():
            print(f"RSS after {n:>6} messages         {mb:8.1f} MB")
        print(f"peak RSS, the bot's process      {r['own_peak']:8.1f} MB (VmHWM)")
        print(f"peak RSS, bot + worker, summed   {r['tree_peak']:8.1f} MB (sampled 5/s)")
        print(f"peak RSS, largest of the tree    {r['peak']:8.1f} MB (ru_maxrss)")
    print(
        f"load average before / after      {load_before[0]:.1f} / {load_after[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
