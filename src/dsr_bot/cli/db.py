"""`dsr-bot db …`: the database schema."""

from __future__ import annotations

import click

from dsr_bot.cli.main import Context, pass_ctx


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
    engine = store_db.make_engine(settings.database_url)
    store_db.upgrade(engine)
    click.echo(f"database schema at {store_db.current_revision(engine)}")
