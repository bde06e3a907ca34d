"""Bad configuration stops the program with one line naming the setting; secrets stay hidden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dsr_bot.config import ConfigError, load_settings
from tests.fixtures.bot import env_for


def run_cli(*args: str, **settings: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsr_bot", *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"imap_port": "imap"}, "DSR_BOT_IMAP_PORT"),
        ({"imap_port": "70000"}, "DSR_BOT_IMAP_PORT"),
        ({"imap_security": "tls"}, "DSR_BOT_IMAP_SECURITY"),
        ({"timezone": "Europe/Stockhol"}, "DSR_BOT_TIMEZONE"),
        ({"database_url": "mysql://x"}, "DSR_BOT_DATABASE_URL"),
        ({"mail_from": "Privacy <p@example.com>"}, "DSR_BOT_MAIL_FROM"),
        ({"classifier_threshold": "2"}, "DSR_BOT_CLASSIFIER_THRESHOLD"),
    ],
)
def test_invalid_setting_names_the_variable(settings: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(**settings)
    message = str(err.value)
    assert message.startswith(named), message
    assert "\n" not in message


def test_cli_reports_bad_setting_in_one_line_without_traceback(tmp_path: Path) -> None:
    proc = run_cli("cases", "list", imap_port="imap", database_url=f"sqlite:///{tmp_path}/x.db")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "DSR_BOT_IMAP_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_required_setting_is_named(tmp_path: Path) -> None:
    proc = run_cli("run", "--once", database_url=f"sqlite:///{tmp_path}/x.db")
    assert proc.returncode == 2
    assert "DSR_BOT_IMAP_HOST is not set" in proc.stderr


def test_secret_values_are_never_echoed() -> None:
    secret = "hunter2-very-secret"
    with pytest.raises(ConfigError) as err:
        load_settings(imap_password=secret, imap_port="x")
    assert secret not in str(err.value)
    settings = load_settings(imap_password=secret, smtp_password=secret)
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())


def test_toml_file_and_environment_precedence(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "dsr.toml"
    config.write_text(
        '[imap]\nhost = "imap.file.example"\nport = 1993\n[controller]\nname = "Example AB"\n'
    )
    monkeypatch.setenv("DSR_BOT_IMAP_PORT", "2993")
    settings = load_settings(config)
    assert settings.imap_host == "imap.file.example"
    assert settings.imap_port == 2993  # the environment wins over the file
    assert settings.resolved_controller().name == "Example AB"


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "dsr.toml"
    config.write_text('[imap]\nhots = "typo.example"\n')
    with pytest.raises(ConfigError, match="DSR_BOT_IMAP_HOTS: unknown setting"):
        load_settings(config)


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "dsr.toml"
    config.write_text("[imap\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)


def test_explicit_overrides_beat_the_environment(monkeypatch) -> None:
    # The demo passes its own database; a production DSR_BOT_DATABASE_URL must not win.
    monkeypatch.setenv("DSR_BOT_DATABASE_URL", "postgresql+psycopg://prod/db")
    settings = load_settings(database_url="sqlite:///demo.sqlite3")
    assert settings.database_url == "sqlite:///demo.sqlite3"
