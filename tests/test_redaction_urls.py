"""The privacy filter masks addresses and passwords in URLs, not the login names in them.

RFC 3986 §3.2.1: `postgresql://postgres@127.0.0.1/test` names the role `postgres` on a host;
it is not an e-mail address. Masked as one, the doctor's database line hid the one thing an
operator needs to check (which role connects).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from dsr_bot.logs import JsonFormatter, Redactor
from tests.fixtures.bot import env_for
from tests.fixtures.database import _pg_url


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "database: postgresql+psycopg://postgres@127.0.0.1:5432/test, schema 0002",
            "database: postgresql+psycopg://postgres@127.0.0.1:5432/test, schema 0002",
        ),
        ("postgresql://dsrbot:***@db.internal:5432/dsrbot", "postgresql://dsrbot:***@db.internal:5432/dsrbot"),
        # A password that is not a configured secret is masked all the same.
        ("postgresql://dsrbot:not-configured@db/dsrbot", "postgresql://dsrbot:***@db/dsrbot"),
        # A login that is itself an address is personal data: escaped or not, it goes.
        ("imaps://alice%40example.com:pw@imap.example.com:993", "imaps://<email>:***@imap.example.com:993"),
        ("imap://alice@example.com@imap.example.com/INBOX", "imap://<email>@imap.example.com/INBOX"),
        # Addresses outside a URL's authority are still masked.
        ("from alice@example.com via smtp://relay.example.com", "from <email> via smtp://relay.example.com"),
        ("see https://example.com/faq or bo@example.org", "see https://example.com/faq or <email>"),
        ("mailto:bob@example.org", "mailto:<email>"),
        ("http://user@host.example, carol@example.net", "http://user@host.example, <email>"),
    ],
)  # fmt: skip
def test_url_userinfo_is_a_login_not_an_address(text: str, shown: str) -> None:
    assert Redactor([])(text) == shown


def test_a_configured_secret_is_masked_wherever_it_stands() -> None:
    redact = Redactor(["s3cret-token"])
    assert redact("token s3cret-token for postgres@db.example.com") == "token <secret> for <email>"
    assert redact("postgresql://app:s3cret-token@10.0.0.5/db") == "postgresql://app:***@10.0.0.5/db"


def test_json_log_lines_keep_the_role_and_drop_the_password() -> None:
    record = logging.LogRecord(
        "dsr_bot", logging.ERROR, __file__, 1,
        "cannot reach %s (owner %s)", ("postgresql://app:pw@127.0.0.1/db", "dpo@example.se"), None,
    )  # fmt: skip
    line = json.loads(JsonFormatter(Redactor([])).format(record))
    assert line["msg"] == "cannot reach postgresql://app:***@127.0.0.1/db (owner <email>)"


def test_doctor_shows_the_database_role() -> None:
    url = _pg_url()
    assert url is not None, "set DSR_BOT_TEST_POSTGRES_URL (PostgreSQL tests are never skipped)"
    proc = subprocess.run(
        [sys.executable, "-c", "from dsr_bot.cli import main; main()",
         "doctor"],
        env=env_for({"database_url": url}), capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    (line,) = [ln for ln in proc.stdout.splitlines() if ln[2:].startswith("database:")]
    user, host = url.split("://", 1)[1].split("/", 1)[0].split("@")
    assert f"{user.split(':')[0]}@{host}" in line, proc.stdout
    assert "<email>" not in line, line
