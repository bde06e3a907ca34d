"""Train the shipped model from the corpus: JSON lines → DocBin → `spacy train` → package.

Only `*.train.jsonl` is read; `*.test.jsonl` is held out for `evaluation.py`. Early stopping
uses a dev set carved from train by a stable hash of each id, so it never peeks at test.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dsr_bot.classify.calibration import calibrate, save_offsets
from dsr_bot.classify.corpus import LABELS, LabelledEmail, carve_dev, read_split
from dsr_bot.classify.spacy_classifier import MODEL_DIR, SpacyClassifier, model_input

log = logging.getLogger(__name__)


def to_docbin(records: Sequence[LabelledEmail], lang: str, path: Path) -> None:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank(lang)
    docbin = DocBin(attrs=["ORTH"], store_user_data=False)
    for record in records:
        doc = nlp.make_doc(model_input(record.subject, record.text))
        doc.cats = {label: float(label in record.labels) for label in LABELS}
        docbin.add(doc)
    docbin.to_disk(path)


def train_model(
    corpus_dir: Path,
    config_path: Path,
    model_dir: Path = MODEL_DIR,
    dev_percent: int = 12,
    overrides: dict[str, object] | None = None,
) -> Path:
    """Train and install the best checkpoint into `model_dir`; returns `model_dir`."""
    from spacy import util
    from spacy.cli.train import train as spacy_train

    records = read_split(corpus_dir, "train")
    train, dev = carve_dev(records, dev_percent)
    if not train or not dev:
        raise ValueError(f"need both train and dev examples, got {len(train)}/{len(dev)}")
    lang = util.load_config(config_path)["nlp"]["lang"]
    log.info("training on %d emails, %d held for early stopping", len(train), len(dev))
    with tempfile.TemporaryDirectory(prefix="dsr-train-") as tmp:
        work = Path(tmp)
        to_docbin(train, lang, work / "train.spacy")
        to_docbin(dev, lang, work / "dev.spacy")
        settings = {"paths.train": str(work / "train.spacy"), "paths.dev": str(work / "dev.spacy")}
        settings.update(overrides or {})
        spacy_train(config_path, work / "out", overrides=settings, use_gpu=-1)
        best = work / "out" / "model-best"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        shutil.copytree(best, model_dir)
    calibrate_on_dev(model_dir, dev)
    return model_dir


def calibrate_on_dev(model_dir: Path, dev: Sequence[LabelledEmail]) -> dict[str, float]:
    """Per-label threshold offsets from the dev emails (never test), with the rules on, as
    shipped; written to the model's thresholds.json (see `calibration`)."""
    import spacy

    classifier = SpacyClassifier(spacy.load(model_dir))
    results = list(classifier.classify_many((r.subject, r.text) for r in dev))
    offsets = calibrate([r.labels for r in dev], [c.scores for c in results])
    save_offsets(model_dir, offsets, len(dev))
    log.info("per-label threshold offsets from %d dev emails: %s", len(dev), offsets)
    return offsets


def model_size_bytes(model_dir: Path = MODEL_DIR) -> int:
    return sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
