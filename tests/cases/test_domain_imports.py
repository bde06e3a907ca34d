"""The domain stays free of adapters: importing `cases/` loads no protocol, wiring or dialect.

Run in a fresh interpreter, because this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = (
    "dsr_bot.mail",
    "dsr_bot.slack",
    "dsr_bot.outbox",
    "dsr_bot.replies",
    "dsr_bot.http",
    "dsr_bot.cli",
    "dsr_bot.bootstrap",
    "dsr_bot.intake",
    "dsr_bot.jobs",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.sqlite",
    "psycopg",
    "jinja2",
    "slack_sdk",
    "imapclient",
)

PROBE = """
import importlib, json, pkgutil, sys
import dsr_bot.cases as cases
for info in pkgutil.walk_packages(cases.__path__, "dsr_bot.cases."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_domain_loads_no_adapter() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    assert any(name == "dsr_bot.cases.service" for name in loaded)  # the probe did import
    offending = [
        name for name in loaded if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert offending == []
