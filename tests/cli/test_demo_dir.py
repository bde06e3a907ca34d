"""`dsr-bot demo` writes where it can: the container image runs it on a read-only root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.bot import env_for


def demo(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsr_bot", "demo", "--json", *args],
        env=env_for(settings), cwd=cwd, capture_output=True, text=True, timeout=180,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_demo_dir_comes_from_the_environment(tmp_path: Path) -> None:
    # The image sets DSR_BOT_DEMO_DIR=/tmp/dsr-bot-demo; the working directory is untouched.
    cwd, target = tmp_path / "cwd", tmp_path / "elsewhere"
    cwd.mkdir()
    proc = demo(cwd=cwd, demo_dir=str(target))
    assert proc.returncode == 0, proc.stderr
    assert (target / "demo.sqlite3").is_file() and list((target / "outbox").glob("*.eml"))
    assert list(cwd.iterdir()) == []
    # Any other DSR_BOT_ variable is a setting; this one must not trip the settings check.
    assert "unknown setting" not in proc.stderr


def test_an_unwritable_demo_dir_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = demo("--dir", str(blocker / "demo"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert f"cannot write the demo to {blocker / 'demo'}" in proc.stderr
    assert "pass --dir (or DSR_BOT_DEMO_DIR) with a writable directory" in proc.stderr
    assert "Traceback" not in proc.stderr
