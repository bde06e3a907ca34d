"""Held-out evaluation: per-label precision/recall/F1, macro-F1, exact match, request-vs-not.

Reported overall and per language, because the reply goes out in the writer's language and a
model that is good on Swedish but weak on English fails half the mailbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dsr_bot.cases.model import Classification
from dsr_bot.classify.calibration import load_offsets
from dsr_bot.classify.corpus import LABELS, LabelledEmail, carve_dev, read_jsonl, read_split


@dataclass(frozen=True)
class LabelScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    n: int
    per_label: dict[str, LabelScore]
    macro_f1: float
    exact_match: float
    request_accuracy: float
    needs_review: int
    # Real requests (gold labels) that got no label: sent to review, or dropped (no label and
    # no review flag: no case, nobody asked). Dropped is the number that must be 0 (issue 12).
    requests_to_review: int = 0
    requests_dropped: int = 0
    by_language: dict[str, Report] = field(default_factory=dict)
    # The same figures per length bucket of the text (issue 12: long letters; LENGTH_BUCKETS).
    by_length: dict[str, Report] = field(default_factory=dict)


# Length buckets of the mail text in characters (issue 12 reports exact match by these).
LENGTH_BUCKETS = (("<300", 0, 300), ("300-1500", 300, 1500), (">=1500", 1500, None))


def length_bucket(text: str) -> str:
    for name, low, high in LENGTH_BUCKETS:
        if len(text) >= low and (high is None or len(text) < high):
            return name
    raise AssertionError("unreachable")


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def score(
    gold: Sequence[frozenset[str]], predicted: Sequence[frozenset[str]]
) -> dict[str, LabelScore]:
    result = {}
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if label in g and label not in p)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        result[label] = LabelScore(precision, recall, f1, tp + fn)
    return result


def build_report(
    records: Sequence[LabelledEmail], results: Sequence[Classification], per_language: bool = True
) -> Report:
    gold = [r.labels for r in records]
    predicted = [frozenset(label.value for label in c.labels) for c in results]
    per_label = score(gold, predicted)
    # Macro-F1 over the labels present (as gold or prediction) in this subset: a language
    # slice with no restriction requests should not be punished with a 0 for that label.
    present = [
        label for label in LABELS if per_label[label].support or any(label in p for p in predicted)
    ]
    macro = sum(per_label[label].f1 for label in present) / len(present) if present else 0.0
    n = len(records)
    report = Report(
        n=n,
        per_label=per_label,
        macro_f1=macro,
        exact_match=_ratio(sum(g == p for g, p in zip(gold, predicted, strict=True)), n),
        request_accuracy=_ratio(
            sum(bool(g) == bool(p) for g, p in zip(gold, predicted, strict=True)), n
        ),
        needs_review=sum(c.needs_review for c in results),
        requests_to_review=sum(
            1 for g, c in zip(gold, results, strict=True) if g and not c.labels and c.needs_review
        ),
        requests_dropped=sum(
            1
            for g, c in zip(gold, results, strict=True)
            if g and not c.labels and not c.needs_review
        ),
    )
    if per_language:
        for lang in sorted({r.lang for r in records}):
            idx = [i for i, r in enumerate(records) if r.lang == lang]
            report.by_language[lang] = build_report(
                [records[i] for i in idx], [results[i] for i in idx], per_language=False
            )
        for name, _, _ in LENGTH_BUCKETS:
            idx = [i for i, r in enumerate(records) if length_bucket(r.text) == name]
            if idx:
                report.by_length[name] = build_report(
                    [records[i] for i in idx], [results[i] for i in idx], per_language=False
                )
    return report


def evaluate(
    records: Sequence[LabelledEmail],
    classify_many: Callable[[list[tuple[str, str]]], list[Classification]],
) -> Report:
    results = classify_many([(r.subject, r.text) for r in records])
    return build_report(records, results)


MODES = ("combined", "model", "rules")


def evaluate_split(
    corpus_dir: Path,
    split: str = "test",
    model_dir: Path | None = None,
    mode: str = "combined",
    extra_file: Path | None = None,
    calibrated: bool = True,
) -> Report:
    """Evaluate on `*.{split}.jsonl` (or one JSONL file) with the model and rules combined,
    the model alone, or the rules alone, so the choice between them is measured.
    `calibrated` applies the per-label thresholds stored with the model (as shipped)."""
    from dsr_bot.classify import RuleClassifier, SpacyClassifier, load_pipeline
    from dsr_bot.classify.spacy_classifier import MODEL_DIR

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if extra_file:
        records = read_jsonl(extra_file)
    elif split == "dev":  # the training emails held out for early stopping and calibration
        records = carve_dev(read_split(corpus_dir, "train"))[1]
    else:
        records = read_split(corpus_dir, split)
    if mode == "rules":
        rules = RuleClassifier()
        return evaluate(records, lambda msgs: [rules.classify(s, t) for s, t in msgs])
    path = model_dir or MODEL_DIR
    offsets = load_offsets(path) if calibrated and mode == "combined" else {}
    classifier = SpacyClassifier(load_pipeline(path), use_rules=mode == "combined", offsets=offsets)
    return evaluate(records, lambda msgs: list(classifier.classify_many(msgs)))


def format_report(report: Report, title: str = "test split") -> str:
    lines = [f"{title}: {report.n} emails"]
    lines.append(f"{'label':<20}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}")
    for label, s in report.per_label.items():
        lines.append(f"{label:<20}{s.precision:7.3f}{s.recall:7.3f}{s.f1:7.3f}{s.support:6d}")
    lines.append(
        f"macro-F1 {report.macro_f1:.3f}  exact-match {report.exact_match:.3f}  "
        f"request-vs-not {report.request_accuracy:.3f}  needs-review {report.needs_review}"
    )
    lines.append(
        f"requests with no label: {report.requests_to_review + report.requests_dropped} "
        f"(to review {report.requests_to_review}, dropped {report.requests_dropped})"
    )
    for lang, sub in report.by_language.items():
        worst = sorted(
            ((s.f1, label) for label, s in sub.per_label.items() if s.support), key=lambda x: x[0]
        )[:3]
        lines.append(
            f"  [{lang}] n={sub.n:<5} macro-F1 {sub.macro_f1:.3f}  exact {sub.exact_match:.3f}  "
            f"request-vs-not {sub.request_accuracy:.3f}  no label: review "
            f"{sub.requests_to_review} dropped {sub.requests_dropped}  weakest: "
            + ", ".join(f"{label} {f1:.2f}" for f1, label in worst)
        )
    for name, sub in report.by_length.items():
        exact = round(sub.exact_match * sub.n)
        lines.append(
            f"  [{name} chars] n={sub.n:<5} macro-F1 {sub.macro_f1:.3f}  exact {exact}/{sub.n}  "
            f"no label: review {sub.requests_to_review} dropped {sub.requests_dropped}"
        )
    return "\n".join(lines)
