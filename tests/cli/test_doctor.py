"""`dsr-bot doctor` against the real test servers, with each one broken or stopped in turn."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fixtures.bot import CONTROLLER, Bot, env_for
from tests.fixtures.database import _pg_url
from tests.fixtures.dovecot import free_port

# The command as the operator types it; `import dsr_bot.cli.doctor.command` registers it on `main`
# the same way cli.py's own import does.
RUN_DOCTOR = "import dsr_bot.cli.doctor.command; from dsr_bot.cli import main; main()"


def doctor_env(env: dict[str, str]) -> tuple[int, dict[str, str], str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_DOCTOR, "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    lines: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if line[:2] in ("✓ ", "✗ ", "– "):
            name = line[2:].split(":", 1)[0]
            lines[name] = line
    return proc.returncode, lines, proc.stdout + proc.stderr


def doctor(bot: Bot, **extra: Any) -> tuple[int, dict[str, str], str]:
    return doctor_env(bot.env(**extra))


def test_all_servers_up(bot: Bot):
    code, lines, out = doctor(bot)
    for name in ("settings", "database", "IMAP connection", "IMAP login", "IMAP folder"):
        assert lines[name].startswith("✓"), out
    assert lines["SMTP connection"].startswith("✓"), out
    assert lines["SMTP sender"].startswith("✓"), out
    assert lines["templates"].startswith("✓"), out
    assert lines["Slack"].startswith("–") and "not configured" in lines["Slack"]
    assert "will be created at first run" in lines["IMAP processed folder"]
    # Exit status is 1 exactly when some line failed (the model may not be shipped yet).
    failed = [line for line in lines.values() if line.startswith("✗")]
    assert code == (1 if failed else 0), out
    assert bot.settings["imap_password"] not in out


def test_the_classifier_worker_is_checked_when_it_is_on(bot: Bot):
    _, lines, out = doctor(bot)
    assert "classifier worker" not in lines  # off by default: nothing to check
    code, lines, out = doctor(bot, classifier_process="true")
    assert lines["classifier model"].startswith("✓"), out
    assert lines["classifier worker"] == (
        "✓ classifier worker: a worker process answers the sample alike (access)"
    ), out
    assert code == 0, out


def test_dovecot_stopped(dovecot, bot: Bot):
    dovecot.stop()
    try:
        code, lines, out = doctor(bot)
    finally:
        dovecot.start()
    assert code == 1
    assert lines["IMAP connection"].startswith("✗"), out
    assert "fix: nothing listens there: check DSR_BOT_IMAP_HOST" in lines["IMAP connection"]
    assert lines["IMAP login"].startswith("–")
    assert lines["database"].startswith("✓")  # one broken server does not hide the others
    code, lines, out = doctor(bot)
    assert lines["IMAP login"].startswith("✓"), out


def test_wrong_imap_password_and_folder(bot: Bot):
    code, lines, out = doctor(bot, imap_password="not-the-password")
    assert code == 1
    assert lines["IMAP login"].startswith("✗"), out
    assert "DSR_BOT_IMAP_PASSWORD" in lines["IMAP login"]
    assert "not-the-password" not in out

    code, lines, out = doctor(bot, imap_folder="Privacy/Requests")
    assert code == 1
    assert lines["IMAP folder"].startswith("✗"), out
    assert "DSR_BOT_IMAP_FOLDER" in lines["IMAP folder"]


def test_smtp_server_stopped(bot: Bot):
    code, lines, out = doctor(bot, smtp_port=free_port())
    assert code == 1
    assert lines["SMTP connection"].startswith("✗"), out
    assert "DSR_BOT_SMTP_PORT" in lines["SMTP connection"]


def test_smtp_starttls_missing_is_explained(bot: Bot):
    code, lines, out = doctor(bot, smtp_security="starttls")
    assert code == 1
    assert "does not offer STARTTLS" in lines["SMTP connection"], out
    assert "DSR_BOT_SMTP_SECURITY" in lines["SMTP connection"]


def test_postgresql_unreachable_or_misnamed():
    base = _pg_url()
    assert base is not None
    from sqlalchemy.engine import make_url

    url = make_url(base)
    refused = url.set(port=free_port()).render_as_string(hide_password=False)
    code, lines, out = doctor_env(env_for({"database_url": refused}))
    assert code == 1
    assert lines["database"].startswith("✗"), out
    assert "start PostgreSQL, or correct host and port in DSR_BOT_DATABASE_URL" in out

    missing = url.set(database="no_such_db_for_doctor").render_as_string(hide_password=False)
    code, lines, out = doctor_env(env_for({"database_url": missing}))
    assert code == 1
    assert "create the database" in lines["database"], out


def test_schema_behind_asks_for_db_upgrade_on_postgresql(mailbox, smtp_sink, database_url):
    bot = Bot(
        {
            **mailbox.settings_overrides(),
            **smtp_sink.settings_overrides(),
            "database_url": database_url,  # empty: never upgraded
            "mail_from": "personuppgiftsansvarig@micromedic.se",
            "controller_profile": CONTROLLER,
        }
    )
    code, lines, out = doctor(bot)
    if database_url.startswith("sqlite"):
        assert lines["database"].startswith("✓") and "will be created" in lines["database"]
    else:
        assert code == 1
        assert "run `dsr-bot db upgrade`" in lines["database"], out


def test_missing_settings_are_named(tmp_path):
    env = env_for({"database_url": f"sqlite:///{tmp_path}/x.sqlite3"})
    code, lines, _ = doctor_env(env)
    assert code == 1
    assert "DSR_BOT_IMAP_HOST" in lines["settings"] and "DSR_BOT_MAIL_FROM" in lines["settings"]
    assert lines["controller profile"].startswith("✗")
    assert "DSR_BOT_CONTROLLER_PROFILE" in lines["controller profile"]


# -- Slack, against a local stand-in for the Web API -----------------------------------------
class FakeSlack:
    def __init__(self) -> None:
        self.auth_error: str | None = None
        self.is_member = True
        self.calls: list[str] = []


@pytest.fixture
def slack_api() -> Iterator[tuple[str, FakeSlack]]:
    state = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            method = self.path.rsplit("/", 1)[-1]
            state.calls.append(method)
            body: dict[str, Any] = {"ok": True}
            if method == "auth.test":
                body = (
                    {"ok": False, "error": state.auth_error}
                    if state.auth_error
                    else {"ok": True, "user": "dsr-bot", "team": "Micromedic", "user_id": "U1"}
                )
            elif method == "apps.connections.open":
                body = {"ok": True, "url": "wss://example.invalid/link"}
            elif method == "conversations.info":
                body = {
                    "ok": True,
                    "channel": {"id": "C1", "name": "dsr", "is_member": state.is_member},
                }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/", state
    finally:
        server.shutdown()
        server.server_close()


def test_slack_auth_and_channel_membership(bot: Bot, slack_api):
    url, state = slack_api
    slack = {
        "slack_bot_token": "xoxb-test-token",
        "slack_app_token": "xapp-test-token",
        "slack_channel": "C1",
        "slack_api_url": url,
    }
    code, lines, out = doctor(bot, **slack)
    assert lines["Slack auth"].startswith("✓") and "dsr-bot" in lines["Slack auth"], out
    assert lines["Slack socket mode"].startswith("✓"), out
    assert lines["Slack channel"].startswith("✓") and "#dsr" in lines["Slack channel"]
    assert "xoxb-test-token" not in out

    state.is_member = False
    code, lines, out = doctor(bot, **slack)
    assert code == 1
    assert "/invite @dsr-bot" in lines["Slack channel"], out

    state.auth_error = "invalid_auth"
    code, lines, out = doctor(bot, **slack)
    assert code == 1
    assert (
        "invalid_auth" in lines["Slack auth"] and "DSR_BOT_SLACK_BOT_TOKEN" in lines["Slack auth"]
    )
    assert "Slack channel" not in lines  # nothing more to learn without a valid token
