"""What `dsr-bot classify`, `dsr-bot train` and `dsr-bot evaluate` call.

Inputs to classify: `.eml` files, a JSON-lines file (`id`, `subject`, `text` per line), or
stdin holding either JSON lines or one raw RFC 5322 message. Output: one JSON line per input,
`{"id", "labels", "scores", "language", "needs_review", "candidates", "follow_up"}`
(`follow_up`: null, or `{"kind": "reminder"|"process_question", "claimed_date",
"claimed_text"}`). Personal data goes to the output stream the operator asked for, never to
the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from dsr_bot.cases.model import Classification
from dsr_bot.classify import load_classifier
from dsr_bot.classify.base import Classifier
from dsr_bot.classify.evaluation import evaluate_split, format_report
from dsr_bot.classify.spacy_classifier import MODEL_DIR
from dsr_bot.classify.training import model_size_bytes, train_model

Message = tuple[str, str, str]  # id, subject, new text


def _from_eml(message_id: str, raw: bytes) -> Message:
    # mail/parse.py strips quoted replies and decodes MIME; classifying the quoted part would
    # see our own acknowledgement ("you asked for erasure") and call every reply a request.
    from dsr_bot.mail.parse import parse_message

    parsed = parse_message(raw)
    return message_id, parsed.subject or "", parsed.new_text or ""


def _from_jsonl(lines: Iterable[str], source: str) -> Iterator[Message]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}:{number}: not a JSON object ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{source}:{number}: expected a JSON object")
        yield (
            str(row.get("id", f"{source}:{number}")),
            str(row.get("subject") or ""),
            str(row.get("text") or ""),
        )


def read_inputs(
    eml_paths: Sequence[Path] = (), jsonl: Path | None = None, stdin: BinaryIO | None = None
) -> Iterator[Message]:
    """Messages in input order: .eml files, then the JSONL file, then stdin."""
    for path in eml_paths:
        yield _from_eml(str(path), path.read_bytes())
    if jsonl is not None:
        with jsonl.open(encoding="utf-8") as handle:
            yield from _from_jsonl(handle, str(jsonl))
    if stdin is not None:
        data = stdin.read()
        if data.lstrip()[:1] == b"{":
            yield from _from_jsonl(data.decode("utf-8").splitlines(), "<stdin>")
        elif data.strip():
            yield _from_eml("-", data)


def to_json_line(message_id: str, result: Classification) -> str:
    follow_up = result.follow_up
    return json.dumps(
        {
            "id": message_id,
            "labels": [label.value for label in result.labels],
            "scores": result.scores,
            "language": result.language,
            "needs_review": result.needs_review,
            "candidates": [label.value for label in result.candidates],
            "follow_up": None
            if follow_up is None
            else {
                "kind": follow_up.kind.value,
                "claimed_date": follow_up.claimed_date.isoformat()
                if follow_up.claimed_date
                else None,
                "claimed_text": follow_up.claimed_text,
            },
        },
        ensure_ascii=False,
    )


def classify_inputs(
    eml_paths: Sequence[Path] = (),
    jsonl: Path | None = None,
    stdin: BinaryIO | None = None,
    out: TextIO | None = None,
    classifier: Classifier | None = None,
    threshold: float = 0.5,
    review_low: float = 0.2,
) -> int:
    """Classify every input and write one JSON line each to `out`; returns how many."""
    import sys

    out = out or sys.stdout
    classifier = classifier or load_classifier(threshold, review_low)
    count = 0
    for message_id, subject, text in read_inputs(eml_paths, jsonl, stdin):
        out.write(to_json_line(message_id, classifier.classify(subject, text)) + "\n")
        count += 1
    return count


def train(
    corpus_dir: Path = Path("classifiers/corpus"),
    config: Path = Path("classifiers/config.cfg"),
    model_dir: Path = MODEL_DIR,
) -> str:
    """Train from the repository's corpus and install the model; returns a one-line summary."""
    path = train_model(corpus_dir, config, model_dir)
    return f"model written to {path} ({model_size_bytes(path) / 1e6:.1f} MB)"


def evaluate(
    corpus_dir: Path = Path("classifiers/corpus"),
    split: str = "test",
    mode: str = "combined",
    model_dir: Path | None = None,
) -> str:
    """The printed evaluation report for the held-out split."""
    report = evaluate_split(corpus_dir, split, model_dir=model_dir, mode=mode)
    return format_report(report, f"{split} split ({mode})")
