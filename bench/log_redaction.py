"""Time of the log redactor on hostile lines (issue 13): the old pattern and the new scan.

    python bench/log_redaction.py [--old-kb 20]

The old pattern `[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+` is quadratic on a long run of word characters
(80 KB: 19 s), so it is timed on a smaller line; the new scan is timed on 1 MB lines.
"""

from __future__ import annotations

import argparse
import re
import time

from dsr_bot.logs import redact_emails

OLD = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def timed(fn, text: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn(text)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-kb", type=int, default=20)
    args = ap.parse_args()
    shapes = {
        "word run": lambda n: "a" * n,
        "word run, one @ at the end": lambda n: "a" * (n - 2) + "@x",
        "a@ repeated": lambda n: "a@" * (n // 2),
        "x@a.a.a… domain": lambda n: "x@" + "a." * (n // 2),
    }
    for name, build in shapes.items():
        old = timed(lambda t: OLD.sub("<email>", t), build(args.old_kb * 1000))
        new = timed(redact_emails, build(1_000_000))
        print(f"{name:30s} old {args.old_kb} KB: {old:8.3f} s   new 1 MB: {new:6.3f} s")


if __name__ == "__main__":
    main()
