"""The marketing suppression list (Art. 21(2)-(3)): addresses that must never get marketing.

Art. 21(3) is absolute: once a person objects to direct marketing there is no balancing
test, so the address goes on the list as soon as the opt-out arrives (intake, in the
transaction that opens the case: `stop_marketing_at_once`), and the list is never purged
(store/tables.py `Suppression`). The marketing tool reads it
as CSV, either through `dsr-bot suppression export` or the token-protected
`/suppression.csv` endpoint.

The hashed form (SHA-256 of the lower-cased address, as Google Customer Match and most
e-mail tools accept) lets the marketing tool honour the list without us handing it the
plain addresses of people who asked to be left alone (Art. 5(1)(c), data minimisation).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.cases.service import SYSTEM, record_event
from dsr_bot.fulfilment.csv_safe import csv_bytes
from dsr_bot.fulfilment.person import email_sha256, normalise_email
from dsr_bot.store.tables import Case, Suppression
from dsr_bot.store.upsert import insert_ignore

log = logging.getLogger(__name__)


def suppress(
    session: Session,
    email: str,
    *,
    case_id: int | None,
    now: datetime,
    actor: str = SYSTEM,
) -> bool:
    """Put `email` on the list; True if it was not there before. Idempotent.

    The audit event names the hash, not the address: the trail is kept longer than the
    case's personal data (retention.py), and the hash is enough to prove the opt-out.
    A second opt-out from another case is recorded on that case too ("confirmed"), so
    each case's trail shows its request was honoured; a retry of the same call is silent.
    """
    address = normalise_email(email)
    digest = email_sha256(address)
    existing = session.get(Suppression, digest)
    if existing is not None:
        if existing.case_id != case_id:
            record_event(
                session,
                action="suppression_confirmed",
                at=now,
                actor=actor,
                case_id=case_id,
                detail={"email_sha256": digest, "listed_at": existing.added_at.isoformat()},
            )
        return False
    values: dict[str, Any] = {
        "email_hash": digest,
        "email": address,
        "added_at": now,
        "case_id": case_id,
    }
    if not insert_ignore(
        session, Suppression, values
    ):  # another instance listed it between our read and our insert
        return False
    record_event(
        session,
        action="suppression_added",
        at=now,
        actor=actor,
        case_id=case_id,
        detail={"email_sha256": digest},
    )
    return True


def stop_marketing_at_once(
    session: Session, case: Case, now: datetime, *, actor: str = SYSTEM
) -> bool:
    """Art. 21(3): "the personal data shall no longer be processed for such purposes" —
    no balancing, and no identity check either (stopping marketing discloses nothing and
    harms no one). So an opt-out goes on the list in the transaction that opens its case,
    and the acknowledgement can say it is done. True if the case is an opt-out with a
    usable address; the case then records when (`marketing_stopped_at`)."""
    if "marketing_optout" not in case.types or not case.requester_email:
        return False
    try:
        suppress(session, case.requester_email, case_id=case.id, now=now, actor=actor)
    except ValueError:  # not one bare address: staff add it by hand (`suppression add`)
        return False
    case.marketing_stopped_at = now
    return True


def is_suppressed(session: Session, email: str) -> bool:
    return session.get(Suppression, email_sha256(email)) is not None


def suppression_entries(session: Session) -> list[Suppression]:
    return list(session.execute(sa.select(Suppression).order_by(Suppression.added_at)).scalars())


def suppression_csv(entries: Iterable[Suppression], *, hashed: bool) -> bytes:
    """`email,added_at` or `email_sha256,added_at`; no BOM, since a program reads it.

    The plain list comes from the stored address; an entry whose address was removed
    (only its hash kept) still appears in the hashed list, and is left out of the plain one.
    """
    if hashed:
        rows = [(e.email_hash, e.added_at) for e in entries]
        return csv_bytes(["email_sha256", "added_at"], rows, bom=False)
    rows = [(e.email, e.added_at) for e in entries if e.email]
    return csv_bytes(["email", "added_at"], rows, bom=False)


# -- HTTP ---------------------------------------------------------------------------------
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

PATH = "/suppression.csv"


def suppression_wsgi(
    factory: sessionmaker[Session], token: str, *, hashed: bool = False
) -> WSGIApp:
    """A read-only WSGI app serving `GET /suppression.csv` behind `Authorization: Bearer`.

    `?hashed=1` asks for the hashed list; `hashed=True` makes it the only form served.
    Mounted on the process's HTTP server by `mount_suppression` (`dsr-bot run`, and
    `dsr-bot suppression serve` on its own).
    """
    if not token:
        raise ValueError("the suppression endpoint needs a non-empty token")
    expected = token.encode("utf-8")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def reply(status: str, body: bytes, headers: list[tuple[str, str]]) -> list[bytes]:
            start_response(
                status,
                [
                    *headers,
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

        text = [("Content-Type", "text/plain; charset=utf-8")]
        if environ.get("PATH_INFO", "") != PATH:
            return reply("404 Not Found", b"not found\n", text)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return reply("405 Method Not Allowed", b"read-only\n", [*text, ("Allow", "GET, HEAD")])
        if not _bearer_ok(environ.get("HTTP_AUTHORIZATION", ""), expected):
            # RFC 6750 §3: a missing or wrong token gets a challenge, nothing else.
            challenge = ("WWW-Authenticate", 'Bearer realm="dsr-bot"')
            return reply("401 Unauthorized", b"unauthorized\n", [*text, challenge])
        want_hashed = hashed or environ.get("QUERY_STRING", "") in ("hashed=1", "hashed=true")
        try:
            with factory() as session:
                body = suppression_csv(suppression_entries(session), hashed=want_hashed)
        except sa.exc.DBAPIError as exc:
            # A database outage is temporary: say so, and when to ask again (RFC 9110 §10.2.3),
            # instead of a 500 and a traceback per request.
            log.warning("suppression list: database unavailable (%s)", type(exc).__name__)
            retry = [*text, ("Retry-After", "30")]
            return reply("503 Service Unavailable", b"database unavailable\n", retry)
        return reply("200 OK", body, [("Content-Type", "text/csv; charset=utf-8")])

    return app


def _bearer_ok(header: str, expected: bytes) -> bool:
    scheme, _, given = header.partition(" ")
    # hmac.compare_digest: the time taken does not reveal how much of the token matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), expected
    )


class _Mount(Protocol):
    """What the process's HTTP server offers (http/server.py): a WSGI app per path."""

    def mount(self, path: str, app: WSGIApp) -> None: ...


def mount_suppression(
    server: _Mount, factory: sessionmaker[Session], token: str | None, *, hashed: bool = False
) -> bool:
    """Serve `/suppression.csv` on the process's HTTP server if a token is configured, so
    the marketing tool reads the list from the port operators already expose."""
    if not token:
        return False
    server.mount(PATH, suppression_wsgi(factory, token, hashed=hashed))
    return True
