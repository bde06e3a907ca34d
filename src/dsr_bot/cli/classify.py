"""Commands backed by the classifier and the template library."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dsr_bot.cli.main import Context, pass_ctx


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--jsonl",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Lines of {id, subject, text}.",
)
@pass_ctx
def classify(ctx: Context, files: tuple[Path, ...], jsonl: Path | None) -> None:
    """Classify .eml FILES, a --jsonl file, or stdin; one JSON line per input."""
    from dsr_bot.cli.classify_files import classify_inputs

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


# The training corpus: hand-written letters only (classifiers/outsider/ is never read).
corpus_option = click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=Path("classifiers/corpus"),
    show_default=True,
)


@click.command()
@corpus_option
@click.option(
    "--config",
    "train_config",
    type=click.Path(path_type=Path),
    default=Path("classifiers/config.cfg"),
    show_default=True,
)
def train(corpus: Path, train_config: Path) -> None:
    """Train the request classifier from the corpus (fixed seed) and install it in the package."""
    from dsr_bot.cli.classify_files import train as train_model

    click.echo(train_model(corpus, train_config))


@click.command()
@corpus_option
@click.option("--split", default="test", show_default=True)
@click.option(
    "--mode", default="combined", show_default=True, help="combined (model+rules), model or rules"
)
def evaluate(corpus: Path, split: str, mode: str) -> None:
    """Per-label precision/recall/F1, macro-F1 and exact match on the held-out split."""
    from dsr_bot.cli.classify_files import evaluate as run_evaluation

    click.echo(run_evaluation(corpus, split, mode))


@click.group()
def templates() -> None:
    """The reviewed reply-template library."""


def _renderer(ctx: Context):  # type: ignore[no-untyped-def]
    from dsr_bot.config import ConfigError
    from dsr_bot.replies import ReplyRenderer, example_controller

    settings = ctx.settings()
    try:
        controller = settings.resolved_controller()
    except ConfigError:
        controller = example_controller()
        click.echo("(no controller profile configured: using the bundled example)", err=True)
    return ReplyRenderer(controller)


@templates.command("check")
@pass_ctx
def templates_check(ctx: Context) -> None:
    """Render every template in every language for every request type; fail on any problem."""
    renderer = _renderer(ctx)
    problems = renderer.check()
    for problem in problems:
        click.echo(f"✗ {problem}")
    if problems:
        raise SystemExit(1)
    click.echo(f"✓ {len(renderer.names())} templates × {len(renderer.languages())} languages ok")


@templates.command("preview")
@click.argument("name")
@click.option("--lang", default="sv", show_default=True)
@click.option("--type", "types", multiple=True, default=("access",), show_default=True)
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of text.")
@pass_ctx
def templates_preview(
    ctx: Context, name: str, lang: str, types: tuple[str, ...], as_html: bool
) -> None:
    """Print one template rendered against a sample case."""
    from dsr_bot.replies import sample_context

    renderer = _renderer(ctx)
    try:
        rendered = renderer.render(name, sample_context(lang, tuple(types)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Subject: {rendered.subject}\n")
    click.echo(rendered.html if as_html else rendered.text)
