"""`dsr-bot db …`: the database schema."""

from __future__ import annotations

import click

from dsr_bot.cli.main import Context, pass_ctx, setup_logging


# -- database -----------------------------------------------------------------------------
@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply schema migrations (PostgreSQL needs this after every upgrade of dsr-bot)."""
    from dsr_bot.store import db as store_db

    settings = ctx.settings()
    setup_logging(settings)
    # Under systemd this is ExecStartPre: a database still starting must not fail the unit.
    store_db.wait_for_database(settings.database_url, settings.database_wait_seconds)
    engine = store_db.make_engine(settings.database_url)
    store_db.upgrade(engine)
    click.echo(f"database schema at {store_db.current_revision(engine)}")
