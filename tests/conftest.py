"""Fixtures every test can use; they live in tests/fixtures/ and are registered here."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.dovecot",
    "tests.fixtures.smtp",
    "tests.fixtures.database",
    "tests.fixtures.bot",
    "tests.fixtures.slack_api",
    "tests.fixtures.desk",
]


@pytest.fixture(autouse=True)
def _no_dsr_bot_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests get exactly the settings they pass: a DSR_BOT_* variable left in the
    developer's shell (or CI's) must not change what a test sees. DSR_BOT_TEST_* variables
    configure the test run itself and stay."""
    for name in list(os.environ):
        if name.startswith("DSR_BOT_") and not name.startswith("DSR_BOT_TEST_"):
            monkeypatch.delenv(name)
