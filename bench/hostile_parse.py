"""Parse time and peak memory of each hostile message (issue 13), one fresh process each.

    python bench/hostile_parse.py [--cap-mb 3000] [--timeout 120]

Each message is parsed in a child process under an address-space limit (RLIMIT_AS), so a
blow-up ends as MemoryError instead of taking the machine down; the child reports the wall
time of `parse_message` and its peak RSS growth over the baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
cap = int(sys.argv[2]) * 1024 * 1024
from dsr_bot.mail.parse import parse_message
from tests.intake.fuzz.hostile import HOSTILE
raw = HOSTILE[sys.argv[1]]()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
t = time.perf_counter()
msg = parse_message(raw)
took = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
extra = round((peak - base) / 1024, 1)
print(json.dumps({"bytes": len(raw), "seconds": round(took, 3), "extra_mb": extra,
                  "ok": msg.ok, "warnings": list(msg.warnings)[:3]}))
"""


def main() -> None:
    from tests.intake.fuzz.hostile import HOSTILE

    ap = argparse.ArgumentParser()
    ap.add_argument("--cap-mb", type=int, default=3000)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    for name in args.names or HOSTILE:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, name, str(args.cap_mb)],
                capture_output=True,
                text=True,
                timeout=args.timeout,
            )
            out = proc.stdout.strip() or json.dumps({"error": proc.stderr.strip()[-300:]})
        except subprocess.TimeoutExpired:
            out = json.dumps({"error": f"over {args.timeout} s"})
        print(f"{name}: {out}", flush=True)


if __name__ == "__main__":
    main()
