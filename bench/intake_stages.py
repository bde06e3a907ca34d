"""Where a backlog's time goes: each stage of intake alone, per message, by CPU time.

    .venv/bin/python bench/intake_stages.py [--messages 2000]

On the same mails as bench/intake.py (two thirds requests), in one process on one core:
  * parse (mail/parse.parse_message);
  * `nlp.pipe` of the shipped model on the classifier's input: the baseline the backlog
    target is measured against (issue 15: backlog >= 0.5 x this rate);
  * the whole classifier (model, rules, language: `classify_batch`);
  * rendering the acknowledgement from its template;
  * composing it: the direct writer `compose_reply_bytes`, and beside it the email
    package's build that every letter used before (the old cost, for comparison);
  * handing it to a real SMTP server (aiosmtpd in another process, one session): this
    process's CPU per mail, and the wall time per mail;
  * the database's floor: the rows one decided request writes (inbound row update, case,
    four audit events, acknowledgement and Sent-copy outbox rows, letter row) inserted with
    SQLAlchemy Core, 200 per transaction, on SQLite (no ORM, no checks: a lower bound).

It then adds the stages up into the per-message CPU time a single-core intake cannot go
below, next to the budget the target leaves (1 / (0.5 x nlp.pipe rate)). The real
pipeline's rate is bench/intake.py's to measure; this says how much of the gap is the sum of
necessary work and how much is overhead around it.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import smtplib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.fixtures.dovecot import free_port  # noqa: E402

from intake import WORDS, make_mail  # noqa: E402


def cpu(run: Callable[[], object]) -> float:
    began = time.process_time()
    run()
    return time.process_time() - began


def smtp_cost(raws: list[bytes]) -> tuple[float, float]:
    """(CPU s, wall s) in this process to hand every mail to a real SMTP server."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        wall, began = time.perf_counter(), time.process_time()
        for i, raw in enumerate(raws):
            smtp.sendmail("personuppgiftsansvarig@micromedic.se", [f"p{i}@bench.example"], raw)
        spent = time.process_time() - began, time.perf_counter() - wall
        smtp.quit()
        return spent
    finally:
        server.terminate()
        server.wait(timeout=10)


def database_floor(requests: int) -> float:
    """CPU s to write the rows of `requests` decided requests with Core, 200 a transaction."""
    import sqlalchemy as sa

    from dsr_bot.store import db
    from dsr_bot.store.tables import Case, Event, InboundMessage, Letter, Outbound

    root = Path(tempfile.mkdtemp(prefix="dsr-stages-"))
    engine = db.make_engine(f"sqlite:///{root / 'floor.sqlite3'}")
    db.upgrade(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(InboundMessage),
            [
                {
                    "mailbox": "m",
                    "uidvalidity": 1,
                    "uid": i,
                    "raw": b"x" * 600,
                    "raw_sha256": f"{i:064d}",
                    "size": 600,
                    "truncated": False,
                    "received_at": now,
                    "stored_at": now,
                    "imap_done": False,
                }
                for i in range(requests)
            ],
        )

    def write() -> None:
        for start in range(0, requests, 200):
            ids = range(start, min(start + 200, requests))
            with engine.begin() as conn:
                case_ids = conn.execute(
                    sa.insert(Case).returning(Case.id, sort_by_parameter_order=True),
                    [
                        {
                            "ref": f"DSR-2026-{i:05d}",
                            "types": ["access"],
                            "status": "open",
                            "requester_email": f"p{i}@bench.example",
                            "language": "sv",
                            "received_at": now,
                            "due_on": now.date(),
                            "identity_status": "unverified",
                            "opened_at": now,
                            "channel": "email",
                        }
                        for i in ids
                    ],
                ).scalars()
                case_ids = list(case_ids)
                conn.execute(
                    sa.update(InboundMessage)
                    .where(InboundMessage.id == sa.bindparam("row"))
                    .values(processed_at=now, disposition="case", case_id=sa.bindparam("case")),
                    [{"row": i + 1, "case": c} for i, c in zip(ids, case_ids, strict=True)],
                )
                conn.execute(
                    sa.insert(Event),
                    [
                        {"case_id": c, "at": now, "actor": "system", "action": a, "detail": {}}
                        for c in case_ids
                        for a in ("case_opened", "classified", "ack_queued", "received")
                    ],
                )
                rows = [
                    {
                        "idempotency_key": f"{kind}:{c}",
                        "kind": kind,
                        "purpose": "acknowledgement",
                        "payload": {},
                        "body": b"y" * 2500,
                        "recipient": f"p{c}@bench.example",
                        "recipient_key": f"p{c}@bench.example",
                        "case_id": c,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for c in case_ids
                    for kind in ("mail", "imap_copy")
                ]
                conn.execute(sa.insert(Outbound), rows)
                conn.execute(
                    sa.insert(Letter),
                    [
                        {
                            "case_id": c,
                            "key": f"ack:{c}",
                            "purpose": "acknowledgement",
                            "channel": "email",
                            "recipient": f"p{c}@bench.example",
                            "subject": "s",
                            "text": "t" * 800,
                            "html": "h" * 1500,
                            "created_at": now,
                        }
                        for c in case_ids
                    ],
                )

    spent = cpu(write)
    engine.dispose()
    return spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    n = ap.parse_args().messages
    requests = sum(1 for i in range(n) if i % len(WORDS) < 4)

    from dsr_bot.classify import load_classifier
    from dsr_bot.classify.base import classify_batch
    from dsr_bot.classify.spacy_classifier import load_pipeline, model_input
    from dsr_bot.intake.steps import classifier_input
    from dsr_bot.mail.parse import parse_message
    from dsr_bot.replies import ReplyRenderer, example_controller, sample_context
    from dsr_bot.replies.compose import _built_letter, compose_reply_bytes

    raws = [make_mail(i) for i in range(n)]
    parsed: list = []
    t_parse = cpu(lambda: parsed.extend(parse_message(raw) for raw in raws))
    items = [classifier_input(m) for m in parsed]

    nlp = load_pipeline()
    texts = [model_input(s, t) for s, t in items]
    deque(nlp.pipe(texts[:256], batch_size=256), maxlen=0)
    t_pipe = cpu(lambda: deque(nlp.pipe(texts, batch_size=256), maxlen=0))
    classifier = load_classifier()
    classify_batch(classifier, items[:256])
    t_classify = cpu(lambda: classify_batch(classifier, items))

    renderer = ReplyRenderer(example_controller())
    ctx = sample_context("sv", ("access",))
    letters: list = []
    t_render = cpu(
        lambda: letters.extend(renderer.render("acknowledgement", ctx) for _ in range(requests))
    )
    fields = {
        "from_addr": "personuppgiftsansvarig@micromedic.se",
        "from_name": "Micromedic AB",
        "to_name": "Person Åström",
        "in_reply_to": "<req@bench.example>",
        "references": [],
        "auto_submitted": "auto-replied",
    }
    composed: list[bytes] = []
    t_compose = cpu(
        lambda: composed.extend(
            compose_reply_bytes(
                **fields,
                to_addr=f"p{i}@bench.example",
                subject=letter.subject,
                text=letter.text,
                html=letter.html,
                message_id=f"<{i}.ack@micromedic.se>",
            )
            for i, letter in enumerate(letters)
        )
    )
    headers = [("From", "Micromedic AB <personuppgiftsansvarig@micromedic.se>")]
    t_compose_pkg = cpu(
        lambda: [
            _built_letter(
                [*headers, ("To", f"Person Åström <p{i}@bench.example>"), ("Subject", x.subject)],
                x.text,
                x.html,
                (),
                False,
            )
            for i, x in enumerate(letters)
        ]
    )
    t_smtp_cpu, t_smtp_wall = smtp_cost(composed)
    t_db = database_floor(requests)

    per = 1e6 / n  # microseconds per message (of all n; request-only stages are spread)
    rows = [
        ("parse", t_parse),
        ("nlp.pipe (the baseline)", t_pipe),
        ("classifier: model + rules + language", t_classify),
        ("render the acknowledgement", t_render),
        ("compose it (direct writer)", t_compose),
        ("compose it (email package, before)", t_compose_pkg),
        ("SMTP hand-off, this process's CPU", t_smtp_cpu),
        ("database floor (Core, 200 per commit)", t_db),
    ]
    print(f"messages {n} ({requests} requests); CPU time per message, averaged over all")
    for name, seconds in rows:
        print(f"  {name:42} {seconds * per:8.0f} us")
    print(f"  {'SMTP hand-off, wall per mail':42} {t_smtp_wall * 1e6 / requests:8.0f} us")
    floor = t_parse + t_classify + t_render + t_compose + t_smtp_cpu + t_db
    budget = 1 / (0.5 * n / t_pipe)
    print(f"nlp.pipe rate                              {n / t_pipe:8.0f} msg/s")
    print(f"sum of the necessary stages                {floor * per:8.0f} us/msg", end="")
    print(f"  -> single-core ceiling {n / floor:6.0f} msg/s")
    print(f"budget at 0.5 x nlp.pipe                   {budget * 1e6:8.0f} us/msg")


if __name__ == "__main__":
    main()
