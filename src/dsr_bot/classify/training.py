"""Train the shipped model from the corpus: JSON lines → DocBin → `spacy train` → package.

Only `*.train.jsonl` is read; `*.test.jsonl` is held out for `evaluation.py`. Early stopping
uses a dev set carved from train by a stable hash of each id, so it never peeks at test.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dsr_bot.classify.calibration import calibrate, save_offsets
from dsr_bot.classify.corpus import LABELS, LabelledEmail, carve_dev, read_split, refuse_outsider
from dsr_bot.classify.spacy_classifier import MODEL_DIR, SpacyClassifier, model_input

log = logging.getLogger(__name__)

WIDTH_KEYS = (
    "components.textcat_multilabel.model.tok2vec.embed.width",
    "components.textcat_multilabel.model.tok2vec.encode.width",
)


@dataclass(frozen=True)
class Member:
    """One ensemble member: config.cfg with this seed and, if given, this CNN width."""

    seed: int
    width: int | None = None

    def overrides(self) -> dict[str, object]:
        settings: dict[str, object] = {"system.seed": self.seed}
        if self.width is not None:
            settings.update(dict.fromkeys(WIDTH_KEYS, self.width))
        return settings


# Averaged by `ensemble.MeanTextcat`: config.cfg's own model plus two seeds at CNN width 16,
# which cost about two thirds of a width-32 member. Chosen on dev under the 2,000 emails/s
# target (classifiers/README.md, round 3): three width-32 seeds scored the same on dev but
# ran at ~2,100/s; four or five members did not fit.
ENSEMBLE = (Member(20260101), Member(7, width=16), Member(11, width=16))


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
    members: Sequence[Member] = ENSEMBLE,
) -> Path:
    """Train every member (same train/dev split, own seed and width), assemble them into one
    pipeline (`assemble_ensemble`), calibrate it on dev and install it into `model_dir`."""
    from spacy import util
    from spacy.cli.train import train as spacy_train

    if not members:
        raise ValueError("need at least one member")
    refuse_outsider(corpus_dir)
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
        trained = []
        for index, member in enumerate(members):
            settings: dict[str, object] = {
                "paths.train": str(work / "train.spacy"),
                "paths.dev": str(work / "dev.spacy"),
                **member.overrides(),
                **(overrides or {}),
            }
            log.info("member %d of %d: %s", index + 1, len(members), member)
            spacy_train(config_path, work / f"member{index}", overrides=settings, use_gpu=-1)
            trained.append(work / f"member{index}" / "model-best")
        assemble_ensemble(trained, model_dir)
    calibrate_on_dev(model_dir, dev)
    return model_dir


def calibrate_on_dev(model_dir: Path, dev: Sequence[LabelledEmail]) -> dict[str, float]:
    """Per-label threshold offsets from the dev emails (never test), with the rules on, as
    shipped; written to the model's thresholds.json (see `calibration`)."""
    import spacy

    import dsr_bot.classify.ensemble  # noqa: F401  (registers the mean_textcat factory)

    classifier = SpacyClassifier(spacy.load(model_dir))
    results = list(classifier.classify_many((r.subject, r.text) for r in dev))
    offsets = calibrate([r.labels for r in dev], [c.scores for c in results])
    save_offsets(model_dir, offsets, len(dev))
    log.info("per-label threshold offsets from %d dev emails: %s", len(dev), offsets)
    return offsets


def assemble_ensemble(member_dirs: Sequence[Path], model_dir: Path) -> Path:
    """One pipeline from N trained members (same config, different seeds): the tokenizer and
    vocab of the first, every member's textcat as a disabled component, and `mean_textcat`
    (see `ensemble`) as the one enabled component. Written to `model_dir`."""
    import spacy

    from dsr_bot.classify.ensemble import FACTORY

    nlp = spacy.load(member_dirs[0])
    first = nlp.pipe_names[0]
    names = [f"textcat_m{i}" for i in range(len(member_dirs))]
    nlp.rename_pipe(first, names[0])
    for name, member_dir in zip(names[1:], member_dirs[1:], strict=True):
        nlp.add_pipe(first, name=name, source=spacy.load(member_dir))
    nlp.add_pipe(FACTORY, config={"members": names})
    for name in names:
        nlp.disable_pipe(name)
    if model_dir.exists():
        shutil.rmtree(model_dir)
    nlp.to_disk(model_dir)
    return model_dir


def model_size_bytes(model_dir: Path = MODEL_DIR) -> int:
    return sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
