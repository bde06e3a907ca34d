"""`dsr-bot outbox …`: see what is waiting or was given up on, and send it again."""

from __future__ import annotations

import json

import click

from dsr_bot.cli.main import Context, pass_ctx, print_table, session_factory


@click.group()
def outbox() -> None:
    """Mail and Slack posts waiting to go out, or given up on."""


@outbox.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include sent items.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def outbox_list(ctx: Context, show_all: bool, as_json: bool) -> None:
    """Items not yet sent (pending, sending, dead), oldest first. No addresses are shown."""
    from dsr_bot.outbox import SENT
    from dsr_bot.store import repositories

    factory = session_factory(ctx.settings())
    with factory() as session:
        rows = [
            {
                "id": item.id,
                "kind": item.kind,
                "purpose": item.purpose,
                "case_ref": ref,
                "status": item.status,
                "attempts": item.attempts,
                "created_at": item.created_at.isoformat(),
                "next_attempt_at": item.next_attempt_at.isoformat(),
                "last_error": item.last_error,
            }
            for item, ref in repositories.outbox_items(
                session, except_status=None if show_all else SENT
            )
        ]
    if as_json:
        click.echo(json.dumps(rows))
    else:
        print_table(
            rows,
            ["id", "kind", "purpose", "case_ref", "status", "attempts", "created_at", "last_error"],
        )


@outbox.command("retry")
@click.argument("item_id", type=int, required=False)
@click.option("--all-dead", is_flag=True, help="Every item that was given up on.")
@pass_ctx
def outbox_retry(ctx: Context, item_id: int | None, all_dead: bool) -> None:
    """Queue a dead item (or all of them) again; the running service sends it."""
    from dsr_bot.cases.service import utcnow
    from dsr_bot.outbox import retry_dead

    if (item_id is None) == (not all_dead):
        raise click.UsageError("give an ITEM_ID or --all-dead")
    factory = session_factory(ctx.settings())
    count = retry_dead(factory, utcnow(), item_id)
    if item_id is not None and count == 0:
        raise click.ClickException(f"no dead outbox item {item_id}")
    click.echo(f"{count} item(s) queued again")
