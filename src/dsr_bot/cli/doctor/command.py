"""`dsr-bot doctor`: one line per check, ✓ or ✗ with the fix; exit 1 if anything failed."""

from __future__ import annotations

import sys

import click

from dsr_bot.cli.main import Context, pass_ctx


@click.command()
@pass_ctx
def doctor(ctx: Context) -> None:
    """Check database, mailbox, mail server, Slack, templates and model; say how to fix each."""
    from dsr_bot.cli.doctor.checks import run_checks

    settings = ctx.settings()  # a bad setting already stops here with one clear line
    failed = 0
    for finding in run_checks(settings):
        click.echo(finding.line())
        failed += finding.status == "fail"
    if failed:
        click.echo(f"\n{failed} check(s) failed.", err=True)
        sys.exit(1)
    click.echo("\nAll checks passed.")
