"""Throughput of the shipped request classifier on one core.

    python bench/classify.py [--n 10000] [--corpus classifiers/corpus]

Builds N emails by recombining corpus texts (subject of one, paragraphs of one to three
others, with a fixed seed), then times on the same texts in the same run:
  1. the blank tokenizer alone (the ceiling: textcat cannot be faster than tokenising),
  2. `nlp.pipe` with the trained model (the `mean_textcat` seed ensemble, see ensemble.py),
  3. the whole `SpacyClassifier.classify_many` path (lower-casing, rules, language detection).
Also prints model load time, size on disk and peak RSS. Target: >= 2,000 emails/s, load < 1 s.
"""

from __future__ import annotations

import os

# One core, as the target says; set before numpy/blis are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_emails(corpus: Path, n: int, seed: int = 7) -> list[tuple[str, str]]:
    from dsr_bot.classify.corpus import read_jsonl

    files = sorted(corpus.glob("*.jsonl")) or sorted(
        (ROOT / "classifiers" / "probe").glob("*.jsonl")
    )
    records = [r for path in files for r in read_jsonl(path)]
    paragraphs = [p for r in records for p in r.text.split("\n\n") if p.strip()]
    rng = random.Random(seed)
    emails = []
    for _ in range(n):
        subject = rng.choice(records).subject
        body = "\n\n".join(rng.choice(paragraphs) for _ in range(rng.randint(1, 3)))
        emails.append((subject, body))
    return emails


def rate(n: int, seconds: float, cpu: float) -> str:
    """Wall-clock rate, and the rate by this process's CPU time: on a shared machine the
    second is the steadier figure (other processes' load does not count against it)."""
    return f"{n / seconds:10,.0f} emails/s  ({seconds:6.2f} s; by CPU time {n / cpu:8,.0f}/s)"


def timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--corpus", type=Path, default=ROOT / "classifiers" / "corpus")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    started = time.perf_counter()
    import spacy

    import dsr_bot.classify.ensemble  # noqa: F401  (registers the mean_textcat factory)
    from dsr_bot.classify.spacy_classifier import MODEL_DIR, SpacyClassifier, model_input
    from dsr_bot.classify.training import model_size_bytes

    imported = time.perf_counter()
    model_dir = args.model or MODEL_DIR
    nlp = spacy.load(model_dir)
    loaded = time.perf_counter()

    emails = make_emails(args.corpus, args.n)
    texts = [model_input(s, t) for s, t in emails]
    words = sum(len(t.split()) for t in texts)
    blank = spacy.blank(nlp.lang)

    t_tok = timed(lambda: deque(blank.pipe(texts, batch_size=256), maxlen=0))
    t_pipe = timed(lambda: deque(nlp.pipe(texts, batch_size=256), maxlen=0))
    classifier = SpacyClassifier(nlp)
    t_full = timed(lambda: deque(classifier.classify_many(emails), maxlen=0))

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"emails: {args.n:,} (mean {words / args.n:.0f} words), one core")
    print(f"blank tokenizer        {rate(args.n, *t_tok)}")
    print(f"nlp.pipe (textcat)     {rate(args.n, *t_pipe)}")
    print(f"classify_many (all)    {rate(args.n, *t_full)}")
    print(f"import spacy           {imported - started:6.2f} s")
    print(f"model load             {loaded - imported:6.2f} s")
    print(f"model size on disk     {model_size_bytes(model_dir) / 1e6:6.2f} MB")
    print(f"peak RSS               {peak_kb / 1024:6.0f} MB")


if __name__ == "__main__":
    main()
