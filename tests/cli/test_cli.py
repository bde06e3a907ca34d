"""The command line as an operator meets it: deadline arithmetic, the demo, output modes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.bot import env_for


def dsr_bot(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsr_bot", *args],
        env=env_for({}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("timestamp", "extended", "expected"),
    [
        ("2026-11-02T09:14:00+01:00", False, "2026-12-02"),
        ("2026-11-02T09:14:00+01:00", True, "2027-02-02"),
        # Received on a Saturday; 28 Feb is a Saturday too, so Monday 2 March.
        ("2026-01-31T12:00:00+01:00", False, "2026-03-02"),
        # 23:30 UTC on 31 January is 00:30 on 1 February in Stockholm.
        ("2026-01-31T23:30:00Z", True, "2026-05-04"),
        # A naive timestamp is read in the controller's time zone.
        ("2026-06-05T10:00:00", False, "2026-07-06"),
    ],
)
def test_deadline_prints_the_due_date(timestamp: str, extended: bool, expected: str) -> None:
    proc = dsr_bot("deadline", timestamp, *(["--extended"] if extended else []))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_deadline_rejects_a_bad_timestamp() -> None:
    proc = dsr_bot("deadline", "next tuesday")
    assert proc.returncode == 2
    assert "not an ISO 8601 timestamp" in proc.stderr


def test_demo_runs_on_embedded_defaults_and_is_idempotent(tmp_path: Path) -> None:
    first = dsr_bot("demo", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    cases, messages = data["cases"], data["messages"]
    assert len(messages) == len(
        list((Path(__file__).parents[2] / "src/dsr_bot/demo_mail").glob("*.eml"))
    )
    assert len(cases) >= 4
    assert all(c["ref"].startswith("DSR-2026-") for c in cases)
    dispositions = {m["subject"]: m["disposition"] for m in messages}
    assert dispositions["Undelivered Mail Returned to Sender"] == "not_request"
    assert dispositions["Re: [DSR-2026-0001] Vi har tagit emot din begäran"] == "reply"
    sent = sorted((tmp_path / "dsr-bot-demo" / "outbox").glob("*.eml"))
    assert len(sent) == sum(m["acknowledged"] for m in messages) == len(cases)

    second = json.loads(dsr_bot("demo", "--json", cwd=tmp_path).stdout)
    assert second == data
    assert sorted((tmp_path / "dsr-bot-demo" / "outbox").glob("*.eml")) == sent


def test_demo_table_output_names_references_and_due_dates(tmp_path: Path) -> None:
    proc = dsr_bot("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "REF" in proc.stdout and "DUE_AT" in proc.stdout
    assert "DSR-2026-0001" in proc.stdout
    assert proc.stderr == ""  # no progress bar or log noise when not on a terminal


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: stdout and stderr are the terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "dsr_bot", "demo"], env_for({}))
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    assert b"demo" in output and b"%" in output  # click's progress bar: "demo  [####]  100%"
