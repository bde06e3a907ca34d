"""Run the built image against real servers on this host; called by scripts/container-test.sh.

The servers are the test suite's own: Dovecot as tests/fixtures/dovecot.py starts it, an
aiosmtpd sink (tests/fixtures/smtp.py), and PostgreSQL at DSR_BOT_TEST_POSTGRES_URL with a
fresh database dropped afterwards. Containers use the host's network namespace, so they reach
all three on 127.0.0.1 without a bridge. Every container runs as the image says (uid 10001)
with a read-only root, no capabilities and no-new-privileges, as compose.yaml runs it.

What is expected of `run --once` is not written down here: the same sample mail goes through
`dsr-bot demo` in this checkout's .venv (installed from the same lock), and the image must
reach the same decisions, so a model that does not load or classifies differently fails.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from tests.fixtures.dovecot import DovecotServer, dovecot_binary, free_port  # noqa: E402
from tests.fixtures.smtp import SmtpSink, _Handler  # noqa: E402

SAMPLES = REPO / "src" / "dsr_bot" / "demo_mail"
CONTROLLER = REPO / "deploy" / "controller.example.toml"
MAIL_FROM = "personuppgiftsansvarig@micromedic.se"
READY_TIMEOUT = 90.0


class CheckFailed(Exception):
    pass


def step(name: str) -> None:
    print(f"container-check: {name}", file=sys.stderr, flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Engine:
    def __init__(self, engine: str, image: str) -> None:
        self.engine, self.image = engine, image

    def hardened(self) -> list[str]:
        return [
            # As compose.yaml: a tmpfs /tmp (podman adds one to --read-only, docker does not).
            "--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "-v", f"{CONTROLLER}:/etc/dsr-bot/controller.toml:ro",
        ]  # fmt: skip

    def run(
        self, *args: str, env: dict[str, str], timeout: float = 180, options: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        command = [self.engine, "run", "--rm", *self.hardened(), *options]
        for key, value in env.items():
            command += ["-e", f"{key}={value}"]
        return subprocess.run(
            [*command, self.image, *args], capture_output=True, text=True, timeout=timeout
        )

    def cli(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        proc = self.run(*args, **kw)
        if proc.returncode != 0:
            raise CheckFailed(
                f"`dsr-bot {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.engine, *args], capture_output=True, text=True, timeout=timeout)


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """A new database on the test server, dropped afterwards, so runs never see each other."""
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"dsr_container_{secrets.token_hex(4)}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def dovecot() -> Iterator[DovecotServer]:
    root = Path(tempfile.mkdtemp(prefix="dsr-dovecot-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must enter it (see the fixture)
    server = DovecotServer(root, dovecot_binary())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def host_demo_decisions() -> Counter[str]:
    """What this checkout decides for the sample mail (the image must decide the same)."""
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.run(
            [str(REPO / ".venv" / "bin" / "dsr-bot"), "demo", "--json", "--dir", workdir],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
    return Counter(m["disposition"] for m in json.loads(proc.stdout)["messages"])


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def check(engine: Engine, figures: dict[str, Any]) -> None:
    inspect = json.loads(engine("image", "inspect", engine.image).stdout)[0]
    config = inspect.get("Config") or inspect.get("config") or {}
    step("image: runs as a fixed non-root user, declares its data volume")
    user = str(config.get("User", ""))
    expect(user.split(":")[0] not in ("", "0", "root"), f"image user is {user!r}")
    expect("/var/lib/dsr-bot" in (config.get("Volumes") or {}), f"no VOLUME: {config}")
    figures["image_mb"] = round(int(inspect["Size"]) / 1e6)

    step("dsr-bot --help")
    t = time.monotonic()
    proc = engine.cli("--help", env={})
    figures["help_seconds"] = round(time.monotonic() - t, 2)
    expect("run" in proc.stdout and "doctor" in proc.stdout, proc.stdout)

    step("non-root and read-only root, asserted from inside")
    probe = (
        "import os, errno\n"
        "assert os.getuid() != 0 and os.getgid() != 0, (os.getuid(), os.getgid())\n"
        "for path in ('/opt/dsr-bot/x', '/etc/x', '/x'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as e:\n"
        "        assert e.errno in (errno.EROFS, errno.EACCES), (path, e)\n"
        "    else:\n"
        "        raise SystemExit(f'{path} is writable')\n"
        "with open('/proc/self/mounts') as m:\n"
        "    root = [l.split() for l in m if l.split()[1] == '/'][-1]\n"
        "assert 'ro' in root[3].split(','), root\n"
        "open('/var/lib/dsr-bot/probe', 'w').write('ok')  # the volume is writable\n"
        "print(os.getuid())\n"
    )
    proc = engine.run("-c", probe, env={}, options=("--entrypoint", "python"))
    expect(proc.returncode == 0, f"non-root/read-only probe failed:\n{proc.stdout}{proc.stderr}")
    expect(proc.stdout.strip() == "10001", f"uid {proc.stdout.strip()}")

    step("demo on the read-only root: in the image's DSR_BOT_DEMO_DIR, and without it")
    proc = engine.cli("demo", env={})
    expect("Cases opened" in proc.stdout and "/tmp/dsr-bot-demo/outbox" in proc.stdout, proc.stdout)
    # Unset, from a read-only working directory: the demo falls back to the temporary one.
    proc = engine.cli("demo", env={"DSR_BOT_DEMO_DIR": ""}, options=("--workdir", "/opt"))
    expect("/tmp/dsr-bot-demo/outbox" in proc.stdout, proc.stdout)

    expected = host_demo_decisions()
    with (
        dovecot() as imap,
        smtp_sink() as sink,
        fresh_database(os.environ["DSR_BOT_TEST_POSTGRES_URL"]) as database_url,
    ):
        account = imap.add_user()
        env = {
            "DSR_BOT_DATABASE_URL": database_url,
            "DSR_BOT_IMAP_HOST": account.host,
            "DSR_BOT_IMAP_PORT": str(account.port),
            "DSR_BOT_IMAP_USER": account.user,
            "DSR_BOT_IMAP_PASSWORD": account.password,
            "DSR_BOT_IMAP_SECURITY": "none",
            "DSR_BOT_SMTP_HOST": sink.host,
            "DSR_BOT_SMTP_PORT": str(sink.port),
            "DSR_BOT_SMTP_SECURITY": "none",
            "DSR_BOT_MAIL_FROM": MAIL_FROM,
            "DSR_BOT_CONTROLLER_PROFILE": "/etc/dsr-bot/controller.toml",
        }
        step("db upgrade")
        engine.cli("db", "upgrade", env=env)

        step("doctor")
        proc = engine.run("doctor", env=env)
        report = proc.stdout + proc.stderr
        expect(proc.returncode == 0, f"doctor exited {proc.returncode}:\n{report}")
        # The database line names the role (not an address) and never the password.
        expect("postgres@127.0.0.1" in report and "<email>" not in report, report)

        samples = sorted(SAMPLES.glob("*.eml"))
        for sample in samples:
            account.append(sample.read_bytes())
        step(f"run --once over {len(samples)} messages")
        proc = engine.cli("run", "--once", env=env)
        messages = json.loads(engine.cli("messages", "list", "--json", env=env).stdout)
        cases = json.loads(engine.cli("cases", "list", "--json", env=env).stdout)
        got = Counter(m["disposition"] for m in messages)
        expect(len(messages) == len(samples), f"{len(messages)} of {len(samples)} stored")
        expect(got == expected, f"image decided {dict(got)}, this checkout {dict(expected)}")
        expect(len(cases) == expected["case"] > 0, f"{len(cases)} cases: {cases}")
        acked = {m["sender"].lower() for m in messages if m["acknowledged"]}
        expect(len(acked) > 0, f"no acknowledgement recorded: {messages}")
        received = sink.wait_for(len(acked), timeout=30)
        rcpts = {r.lower() for mail in received for r in mail.rcpt_tos}
        expect(acked <= rcpts, f"acknowledged {acked}, SMTP sink got mail for {rcpts}")
        expect(all(mail.mail_from == MAIL_FROM for mail in received), "wrong envelope sender")
        expect(account.uids() == [], "messages left in INBOX after run --once")
        figures["cases_opened"], figures["acks_at_sink"] = len(cases), len(received)

        step("long-running `run`: /readyz 200, then SIGTERM exits 0")
        port = free_port()
        name = f"dsr-bot-ci-{secrets.token_hex(3)}"
        command = [engine.engine, "run", "-d", "--name", name, *engine.hardened()]
        for key, value in {
            **env,
            "DSR_BOT_HTTP_HOST": "127.0.0.1",
            "DSR_BOT_HTTP_PORT": str(port),
        }.items():
            command += ["-e", f"{key}={value}"]
        t = time.monotonic()
        subprocess.run([*command, engine.image, "run"], check=True, capture_output=True)
        try:
            status = None
            while time.monotonic() - t < READY_TIMEOUT:
                status = http_status(f"http://127.0.0.1:{port}/readyz")
                if status == 200:
                    break
                state = json.loads(engine("inspect", name).stdout)[0]["State"]
                expect(state["Running"], f"`run` exited early:\n{engine('logs', name).stderr}")
                time.sleep(0.2)
            figures["ready_seconds"] = round(time.monotonic() - t, 2)
            expect(status == 200, f"/readyz {status} after {READY_TIMEOUT}s")
            # The compose healthcheck, run by hand: podman runs HEALTHCHECKs only under systemd.
            healthz = f"http://127.0.0.1:{port}/healthz"
            health = engine(
                "exec", name, "python", "-c",
                f"import urllib.request as u; u.urlopen({healthz!r}, timeout=3)",
            )  # fmt: skip
            expect(health.returncode == 0, f"healthcheck failed: {health.stderr}")
            uid = engine("exec", name, "python", "-c", "import os; print(os.getuid())")
            expect(uid.stdout.strip() == "10001", f"running as uid {uid.stdout!r}")
            t = time.monotonic()
            stop = engine("stop", "--time", "20", name)  # SIGTERM (STOPSIGNAL), then SIGKILL
            figures["stop_seconds"] = round(time.monotonic() - t, 2)
            expect(stop.returncode == 0, stop.stderr)
            state = json.loads(engine("inspect", name).stdout)[0]["State"]
            logs = engine("logs", name)
            expect(
                state["ExitCode"] == 0,
                f"exit {state['ExitCode']} on SIGTERM:\n{logs.stdout}{logs.stderr}"[-3000:],
            )
            expect(figures["stop_seconds"] < 15, "SIGTERM was not enough; SIGKILL ended it")
            expect("signal 15" in logs.stderr + logs.stdout, "no SIGTERM in the log")
        finally:
            engine("rm", "-f", name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--build-seconds", type=int)
    args = parser.parse_args()
    figures: dict[str, Any] = {"build_seconds": args.build_seconds}
    try:
        check(Engine(args.engine, args.image), figures)
    except CheckFailed as exc:
        print(f"container-check: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"container-check: figures {json.dumps(figures)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
