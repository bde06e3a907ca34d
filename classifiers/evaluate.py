"""Evaluate the shipped classifier on the held-out split (never trained on).

    python classifiers/evaluate.py [--split test] [--mode combined|model|rules] [--file F.jsonl]
                                   [--uncalibrated] [--outsider] [--per-language]

`--outsider` scores classifiers/outsider/letters.jsonl: public letters written outside the
project, evaluation only (never trained on, never used to tune rules or thresholds).
`--per-language` adds a full per-label table for each language.

Prints per-label precision/recall/F1, macro-F1, exact-match rate and request-vs-not accuracy,
overall and per language. Import `evaluate_split` / `format_report` to use it from code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dsr_bot.classify.evaluation import MODES, Report, evaluate_split, format_report

HERE = Path(__file__).resolve().parent

__all__ = ["Report", "evaluate_split", "format_report", "main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus")
    parser.add_argument(
        "--split", default="test", help="test, or dev (the training emails held out)"
    )
    parser.add_argument("--mode", choices=MODES, default=None, help="default: all three")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--file", type=Path, default=None, help="one JSONL file instead")
    parser.add_argument(
        "--uncalibrated", action="store_true", help="one global 0.5 threshold, no thresholds.json"
    )
    parser.add_argument("--outsider", action="store_true", help="the outsider letters")
    parser.add_argument("--per-language", action="store_true", help="per-label table per language")
    args = parser.parse_args(argv)
    if args.outsider:
        args.file = HERE / "outsider" / "letters.jsonl"
    for mode in [args.mode] if args.mode else list(MODES):
        report = evaluate_split(
            args.corpus, args.split, args.model, mode, args.file, not args.uncalibrated
        )
        title = f"{args.file or args.split + ' split'} ({mode})"
        print(format_report(report, title), end="\n\n")
        if args.per_language:
            for lang, sub in report.by_language.items():
                print(format_report(sub, f"{title} [{lang}]"), end="\n\n")


if __name__ == "__main__":
    main()
