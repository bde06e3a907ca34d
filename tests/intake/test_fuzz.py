"""The fuzz stage (issue 13), part of the suite: 20,000 mutated messages through
`parse_message` and 1,000 through the whole intake (SQLite, in-process, the real
classifier, composer and outbox), seed 13, under a 3 GiB address-space cap.

It runs in a child process (tests/intake/fuzz/run.py) so the memory cap cannot hurt pytest; the
time cap is the child's timeout (a hang fails here). Its mutators live in
tests/intake/fuzz/mutators.py; a failure names the seed, so
`python -m tests.intake.fuzz.run --seed 13` rebuilds the same inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TIME_CAP_SECONDS = 600  # a hang, not a slow machine: CI cost is about 2 minutes


def test_fuzz_parse_and_pipeline() -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "tests.intake.fuzz.run", "--parse", "20000"),
            *("--pipeline", "1000", "--seed", "13", "--memory-mb", "3072"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIME_CAP_SECONDS,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    parse, pipeline = report["parse"], report["pipeline"]
    assert parse["calls"] == 20_000
    assert parse["exceptions"] == 0, parse["first_exceptions"]
    assert pipeline["messages"] == pipeline["decided"] == pipeline["rows"] == 1_000
    assert pipeline["pending_after"] == 0
    # "internal error" is what issue 13 found real senders parked as; none may be left.
    assert pipeline["internal_errors"] == 0, pipeline
