"""`fulfil export` waits for a verified identity (Art. 12(6)) unless forced, which is
audited; and staff can take other people's data out of an export (Art. 15(4))."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from dsr_bot.store import db
from dsr_bot.store.tables import Case
from tests.cli.test_fulfilment_cli import Desk, desk  # noqa: F401  (fixture)
from tests.fixtures.customer_db import ANNA


def test_export_is_refused_before_identity_is_verified(
    desk: Desk,  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "export"
    refused = desk.run("fulfil", "export", desk.ref, "--out", str(out))
    assert refused.exit_code == 1
    assert "identity is not verified" in refused.output and "--force" in refused.output
    assert not out.exists() and desk.events("data_exported") == []

    forced = desk.run(
        "fulfil", "export", desk.ref, "--out", str(out), "--force", "--actor", "cli:dpo"
    )
    assert forced.exit_code == 0, forced.output
    [event] = desk.events("export_forced")
    assert event.actor == "cli:dpo" and event.detail == {"identity_status": "unverified"}
    assert len(desk.events("data_exported")) == 1


def test_other_peoples_data_is_removed_from_the_export(
    desk: Desk,  # noqa: F811
    tmp_path: Path,
) -> None:
    desk.verify_identity()
    plain = desk.run("fulfil", "export", desk.ref, "--out", str(tmp_path / "a"))
    assert plain.exit_code == 0, plain.output
    text = Path(plain.output.split()[0]).read_text(encoding="utf-8")
    assert ANNA in text and "Karolinska" in text
    with db.transaction(desk.factory) as session:
        case = session.execute(sa.select(Case).where(Case.ref == desk.ref)).scalar_one()
        # Say her employer's name identified a colleague: not Anna's to receive.
        case.export_redactions = ["karolinska"]
    redacted = desk.run("fulfil", "export", desk.ref, "--out", str(tmp_path / "b"))
    assert redacted.exit_code == 0, redacted.output
    doc = Path(redacted.output.split()[0]).read_text(encoding="utf-8")
    assert "Karolinska" not in doc and "[removed: Art. 15(4)]" in doc and ANNA in doc
    json.loads(doc)  # still a valid document
    csv_text = Path(redacted.output.split()[1]).read_text(encoding="utf-8-sig")
    assert "Karolinska" not in csv_text
    last = desk.events("data_exported")[-1]
    assert last.detail["redacted"] >= 1 and "arolinska" not in json.dumps(last.detail)
