"""Mount the read-only `/suppression.csv` (suppression.py) on the health HTTP server.

`suppression_wsgi` is a WSGI app; the health server (health.py) routes by path to
`handler(headers) -> (status, content type, body)`. This adapter runs the one inside the
other, so the marketing tool reads the list from the port operators already expose, with
the same Bearer token (`DSR_BOT_SUPPRESSION_TOKEN`). Off when no token is set.

The health server's route API passes neither the query string nor extra response headers,
so through it the list is served in the form chosen here (`hashed`), and a 401 carries no
`WWW-Authenticate` challenge; `dsr-bot suppression serve` serves the full WSGI app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from dsr_bot.fulfilment.suppression import PATH, WSGIApp, suppression_wsgi

Response = tuple[int, str, bytes]


class Routes(Protocol):
    """What `health.HealthServer` offers: `route(path, handler)`."""

    def route(self, path: str, handler: Callable[[dict[str, str]], Response]) -> None: ...


def route_handler(app: WSGIApp) -> Callable[[dict[str, str]], Response]:
    """A health-server route that calls the WSGI app as a GET of `PATH`."""

    def handler(headers: dict[str, str]) -> Response:
        # http.server keeps header names as sent; HTTP header names are case-insensitive.
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": PATH, "HTTP_AUTHORIZATION": auth}
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            answer["status"] = int(status.split(" ", 1)[0])
            answer["type"] = dict(response_headers).get("Content-Type", "text/plain")

        body = b"".join(app(environ, start_response))
        return answer["status"], answer["type"], body

    return handler


def mount_suppression(
    server: Routes, factory: sessionmaker[Session], token: str | None, *, hashed: bool = False
) -> bool:
    """Serve `/suppression.csv` on `server` if a token is configured; True if mounted."""
    if not token:
        return False
    server.route(PATH, route_handler(suppression_wsgi(factory, token, hashed=hashed)))
    return True
