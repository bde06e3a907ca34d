"""The fuzz stage (issue 13): mutated mail through `parse_message` and the whole intake.

    python -m tests.intake.fuzz.run --parse 20000 --pipeline 1000 --seed 13 --memory-mb 3072

Runs under an address-space limit (`--memory-mb`), so a blow-up is a MemoryError here and
not an OOM kill of the CI runner, and prints one JSON line of counts. tests/test_fuzz.py
runs it as part of the suite and asserts on the counts; a hang is caught by its timeout.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

SLOW_SECONDS = 1.0


def fuzz_parse(messages: Iterable[bytes]) -> dict[str, object]:
    from dsr_bot.mail.parse import parse_message

    exceptions: list[str] = []
    slow = calls = 0
    slowest = 0.0
    for raw in messages:
        calls += 1
        started = time.perf_counter()
        try:
            parsed = parse_message(raw)
            if parsed.sender_email is not None:
                assert "@" in parsed.sender_email
            assert "\n" not in parsed.subject and "\r" not in parsed.subject
        except BaseException as exc:  # parse_message must never raise
            exceptions.append(f"{type(exc).__name__}: {traceback.format_exc(limit=3)[-400:]}")
        took = time.perf_counter() - started
        slow += took > SLOW_SECONDS
        slowest = max(slowest, took)
    return {
        "calls": calls,
        "exceptions": len(exceptions),
        "first_exceptions": exceptions[:3],
        "over_1s": slow,
        "slowest_s": round(slowest, 3),
    }


def fuzz_pipeline(messages: list[bytes], workdir: Path) -> dict[str, object]:
    from dsr_bot.bootstrap import build_app
    from dsr_bot.config import load_settings
    from tests.fixtures.bot import CONTROLLER, MAIL_FROM

    settings = load_settings(
        None,
        database_url=f"sqlite:///{workdir / 'fuzz.sqlite3'}",
        mail_from=MAIL_FROM,
        controller_profile=str(CONTROLLER),
        mail_outbox_dir=str(workdir / "out"),
    )
    app = build_app(settings)
    now = datetime.now(UTC)
    for start in range(0, len(messages), 100):
        chunk = messages[start : start + 100]
        app.intake.store_batch(
            mailbox="fuzz",
            uidvalidity=1,
            messages=[_raw(uid, raw, now) for uid, raw in enumerate(chunk, start=start + 1)],
        )
    outcomes = []
    pending = app.intake.pending_ids()
    for start in range(0, len(pending), 25):
        outcomes += app.intake.process_batch(pending[start : start + 25])
    app.outbox().drain(limit=5000)
    dispositions: dict[str, int] = {}
    for outcome in outcomes:
        key = outcome.disposition.value
        dispositions[key] = dispositions.get(key, 0) + 1
    from dsr_bot.reports import queries
    from dsr_bot.store.tables import InboundMessage

    with app.factory() as session:
        internal = (
            session.query(InboundMessage)
            .filter(InboundMessage.disposition_reason.like("internal error%"))
            .count()
        )
        rows = queries.messages(session)
    return {
        "messages": len(messages),
        "decided": len(outcomes),
        "pending_after": len(app.intake.pending_ids()),
        "internal_errors": internal,
        "dispositions": dispositions,
        "rows": len(rows),
    }


def _raw(uid: int, raw: bytes, now: datetime) -> object:
    from dsr_bot.intake.pipeline import RawMessage

    return RawMessage(uid, raw, now)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parse", type=int, default=20_000)
    ap.add_argument("--pipeline", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--memory-mb", type=int, default=3072)
    args = ap.parse_args()
    from tests.intake.fuzz.mutators import mutated

    cap = args.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    started = time.perf_counter()
    report: dict[str, object] = {"seed": args.seed, "memory_cap_mb": args.memory_mb}
    report["parse"] = fuzz_parse(mutated(args.seed, args.parse))
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = list(mutated(args.seed + 1, args.pipeline))
        report["pipeline"] = fuzz_pipeline(pipeline, Path(tmp))
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
