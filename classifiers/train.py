"""Train the request classifier from classifiers/corpus/*.train.jsonl and install it into
src/dsr_bot/classify/model/ (shipped with the package).

    python classifiers/train.py [--corpus DIR] [--config FILE] [--output DIR]

The *.test.jsonl files are never read here. The model is a three-member seed ensemble
(dsr_bot.classify.training.ENSEMBLE: config.cfg's seed, plus two fixed seeds at CNN width 16),
so the same corpus gives the same model. The work is done by dsr_bot.classify.training,
which is also what `dsr-bot train` calls.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dsr_bot.classify.spacy_classifier import MODEL_DIR
from dsr_bot.classify.training import model_size_bytes, train_model

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus")
    parser.add_argument("--config", type=Path, default=HERE / "config.cfg")
    parser.add_argument("--output", type=Path, default=MODEL_DIR)
    parser.add_argument("--dev-percent", type=int, default=12)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = train_model(args.corpus, args.config, args.output, dev_percent=args.dev_percent)
    print(f"model written to {path} ({model_size_bytes(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
