"""Fixtures for the fulfilment flows: the company's customer database and the staff desk
over the Slack wire (helpers in tests/fixtures/fulfilment_desk.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import customer_db
from tests.fixtures.database import fresh_schema
from tests.fixtures.fulfilment_desk import ANONYMISE, Desk, second_source, start
from tests.fixtures.slack_api import FakeSlack


@pytest.fixture
def customer_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The company's own customer database: a separate SQLite file or PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'customers.sqlite3'}"
        return
    with fresh_schema(database_url, prefix="c") as url:
        yield url


@pytest.fixture
def desk(
    slack_api: FakeSlack,
    database_url: str,
    customer_url: str,
    smtp_sink: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Desk]:
    engine = customer_db.build(customer_url)
    # The misconfiguration that makes erasure fail: deleting a customer whose invoices must
    # be kept (bokföringslagen) is refused by the foreign key.
    policy = 'erasure = "delete"\n' if "failed" in request.node.name else ANONYMISE
    # A second SQL source in the same database, for the tests of a second system.
    extra = second_source(customer_url) if "second_system" in request.node.name else ""
    settings: dict[str, Any] = {}
    if "cannot_be_completed" in request.node.name:
        # A profile without the policy's Art. 15(1)(a), (b), (g) facts: the access letter
        # can state them only from the data source that holds the person.
        profile = tmp_path / "controller.toml"
        profile.write_text(
            '[controller]\nname = "Micromedic AB"\ntransfers_outside_eea = false\n',
            encoding="utf-8",
        )
        settings["controller_profile"] = profile
    app, runtime, url = start(
        slack_api, database_url, customer_url, smtp_sink, tmp_path, policy, extra, **settings
    )
    try:
        yield Desk(app, runtime, url, slack_api, engine)
    finally:
        runtime.stop()
        app.engine.dispose()
        engine.dispose()
