"""Commands backed by the classifier and the template library."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dsr_bot.cli import Context, main, pass_ctx


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--jsonl",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Lines of {id, subject, text}.",
)
@pass_ctx
def classify(ctx: Context, files: tuple[Path, ...], jsonl: Path | None) -> None:
    """Classify .eml FILES, a --jsonl file, or stdin; one JSON line per input."""
    from dsr_bot.classify.cli_support import classify_inputs

    settings = ctx.settings()
    stdin = sys.stdin.buffer if not files and jsonl is None else None
    try:
        classify_inputs(
            files,
            jsonl,
            stdin,
            threshold=settings.classifier_threshold,
            review_low=settings.classifier_review_low,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=Path("classifiers/corpus"),
    show_default=True,
)
@click.option(
    "--config",
    "train_config",
    type=click.Path(path_type=Path),
    default=Path("classifiers/config.cfg"),
    show_default=True,
)
def train(corpus: Path, train_config: Path) -> None:
    """Train the request classifier from the corpus (fixed seed) and install it in the package."""
    from dsr_bot.classify.cli_support import train as train_model

    click.echo(train_model(corpus, train_config))


@main.command()
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=Path("classifiers/corpus"),
    show_default=True,
)
@click.option("--split", default="test", show_default=True)
@click.option(
    "--mode", default="combined", show_default=True, help="combined (model+rules), model or rules"
)
def evaluate(corpus: Path, split: str, mode: str) -> None:
    """Per-label precision/recall/F1, macro-F1 and exact match on the held-out split."""
    from dsr_bot.classify.cli_support import evaluate as run_evaluation

    click.echo(run_evaluation(corpus, split, mode))
