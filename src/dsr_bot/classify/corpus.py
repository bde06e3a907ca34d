"""Reading the labelled corpus in `classifiers/corpus/*.{train,test}.jsonl`.

Each line: {"id", "lang", "labels", "subject", "text"}. Shared by training and evaluation so
that both see the same records, and so a bad line is reported with its file and line number
instead of silently training on garbage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dsr_bot.cases.model import RequestType

LABELS: tuple[str, ...] = tuple(label.value for label in RequestType)


@dataclass(frozen=True)
class LabelledEmail:
    id: str
    lang: str
    labels: frozenset[str]
    subject: str
    text: str


class CorpusError(ValueError):
    """A corpus line that cannot be used; the message names the file and line."""


def read_jsonl(path: Path) -> list[LabelledEmail]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not JSON ({exc.msg})") from exc
            labels = row.get("labels") or []
            unknown = set(labels) - set(LABELS)
            if unknown:
                raise CorpusError(f"{where}: unknown labels {sorted(unknown)}; use {LABELS}")
            records.append(
                LabelledEmail(
                    id=str(row.get("id") or f"{path.name}:{number}"),
                    lang=str(row.get("lang") or "?"),
                    labels=frozenset(labels),
                    subject=str(row.get("subject") or ""),
                    text=str(row.get("text") or ""),
                )
            )
    return records


# Public letters written outside the project (classifiers/outsider/) are evaluation data only:
# training on them, or tuning rules or thresholds on them, would make the outsider score
# measure memory instead of generalisation (issue 12).
OUTSIDER_DIR = "outsider"


class OutsiderDataError(CorpusError):
    """Training was pointed at the outsider evaluation letters."""


def refuse_outsider(path: Path) -> None:
    """Raise if `path` is, or lies inside, an `outsider` folder."""
    if OUTSIDER_DIR in path.resolve().parts:
        raise OutsiderDataError(
            f"{path}: the outsider letters are for evaluation only and are never trained on"
        )


def read_split(corpus_dir: Path, split: str) -> list[LabelledEmail]:
    """All `*.{split}.jsonl` files in `corpus_dir`, in file-name order (stable across runs).
    The training split is never read from the outsider folder."""
    if split != "test":
        refuse_outsider(corpus_dir)
    paths = sorted(corpus_dir.glob(f"*.{split}.jsonl"))
    if not paths:
        raise CorpusError(f"no *.{split}.jsonl files in {corpus_dir}")
    records: list[LabelledEmail] = []
    for path in paths:
        records.extend(read_jsonl(path))
    return records


def in_dev(record_id: str, dev_percent: int) -> bool:
    """Stable dev membership from the id's hash: adding emails never reshuffles old ones."""
    digest = hashlib.sha256(record_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < dev_percent


def carve_dev(
    records: Iterable[LabelledEmail], dev_percent: int = 12
) -> tuple[list[LabelledEmail], list[LabelledEmail]]:
    train, dev = [], []
    for record in records:
        (dev if in_dev(record.id, dev_percent) else train).append(record)
    return train, dev
