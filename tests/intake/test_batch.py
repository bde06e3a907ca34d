"""A batch of decisions commits together, but one message's failure stays its own: the batch
is decided again with a savepoint per message, and only the failing one is parked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.fixtures.app import offline_app
from tests.intake.test_intake_e2e import EN_ACCESS, LATIN1, SALES, SV_ERASURE


class ExplodingListener:
    """An intake listener (a plug-in point) that fails on one requester's case."""

    def __init__(self, victim: str) -> None:
        self.victim = victim
        self.opened: list[str] = []

    def case_opened(self, session, case, inbound, now) -> None:  # type: ignore[no-untyped-def]
        if case.requester_email == self.victim:
            raise RuntimeError("listener bug")
        self.opened.append(case.ref)

    def requester_replied(self, session, case, inbound, now) -> None:  # type: ignore[no-untyped-def]
        pass

    def needs_staff(self, session, inbound, now) -> None:  # type: ignore[no-untyped-def]
        pass


def test_one_failing_message_does_not_take_its_batch_with_it(database_url: str, tmp_path: Path):
    app = offline_app(database_url, tmp_path)
    listener = ExplodingListener("j.smith@example.co.uk")
    app.intake.listeners.append(listener)
    now = datetime.now(UTC)
    for uid, raw in enumerate((SV_ERASURE, EN_ACCESS, SALES, LATIN1), 1):
        app.intake.store_raw(mailbox="t", uidvalidity=1, uid=uid, raw=raw, received_at=now)

    outcomes = app.intake.process_batch(app.intake.pending_ids())

    by_id = {o.inbound_id: o for o in outcomes}
    assert [by_id[i].disposition.value for i in sorted(by_id)] == [
        "case", "needs_review", "not_request", "case"]  # fmt: skip
    # The batch is decided without savepoints first; the failure rolls it back and it is
    # decided again message by message, so the listener saw the first case twice (the
    # IntakeListener contract: write to the session only, the transaction may roll back).
    assert listener.opened == ["DSR-2026-0001", "DSR-2026-0001", "DSR-2026-0002"]
    assert app.intake.pending_ids() == []
    # The failed message's case was rolled back with its savepoint: no orphan case, no ack.
    app.outbox().drain()
    assert len(list((tmp_path / "out").glob("*.eml"))) == 2
    with app.factory() as session:
        from dsr_bot.reports import queries

        refs = [c["ref"] for c in queries.cases(session)]
    assert sorted(refs) == sorted(set(listener.opened))
