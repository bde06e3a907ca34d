"""Command line entry point (filled in as the pipeline lands)."""

import click


@click.group()
def main() -> None:
    """dsr-bot: GDPR data-subject requests from a privacy mailbox."""
