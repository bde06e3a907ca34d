"""`dsr-bot demo`: the real pipeline fed from bundled sample mail instead of an IMAP server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from importlib import resources
from typing import Any

from dsr_bot.bootstrap import build_app
from dsr_bot.config import Settings
from dsr_bot.reports import queries

DEMO_MAILBOX = "demo:samples"


def sample_mails() -> list[tuple[str, bytes]]:
    folder = resources.files("dsr_bot") / "demo_mail"
    return sorted(
        (item.name, item.read_bytes()) for item in folder.iterdir() if item.name.endswith(".eml")
    )


def _received_at(raw: bytes) -> datetime:
    # The samples carry fixed dates so a fresh demo always opens the same references.
    date = BytesHeaderParser().parsebytes(raw).get("Date")
    try:
        return parsedate_to_datetime(str(date)).astimezone(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def run_demo(
    settings: Settings, progress: Callable[[int, int], None] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from dsr_bot.replies import example_controller

    if settings.controller is None and settings.controller_profile is None:
        settings = settings.model_copy(update={"controller": example_controller()})
    app = build_app(settings)
    mails = sample_mails()
    for uid, (_name, raw) in enumerate(mails, 1):
        app.intake.store_raw(
            mailbox=DEMO_MAILBOX, uidvalidity=1, uid=uid, raw=raw, received_at=_received_at(raw)
        )
    pending = app.intake.pending_ids()
    for n, inbound_id in enumerate(pending, 1):
        app.intake.process(inbound_id)
        if progress is not None:
            progress(n, len(pending))
    app.outbox().drain()
    with app.factory() as session:
        return queries.cases(session), queries.messages(session)
