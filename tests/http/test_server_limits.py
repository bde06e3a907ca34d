"""What one unauthenticated client can make the HTTP server do: bounded, on the real socket."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from dsr_bot.http.server import HttpServer, Limits

BIG = 10 * 1024 * 1024


def _echo_length(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


@pytest.fixture
def server() -> Iterator[HttpServer]:
    srv = HttpServer("127.0.0.1", 0, limits=Limits(read_timeout=1.0, max_connections=4))
    srv.mount("/echo", _echo_length)
    srv.route("/healthz", lambda _h: (200, "application/json", b'{"status": "ok"}\n'))
    srv.start()
    yield srv
    srv.stop()


def _raw(port: int, request: bytes, read: bool = True, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        if not read:
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_body_over_the_limit_is_refused_before_it_is_read(server: HttpServer) -> None:
    # Only the headers are sent: a server that read the body first would wait for 10 MB.
    head = (
        f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {BIG}\r\n"
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    began = time.monotonic()
    answer = _raw(server.port, head)
    assert _status(answer) == 413
    assert time.monotonic() - began < 2
    assert b"request body over 1048576 bytes" in answer


def test_a_body_without_a_length_is_refused(server: HttpServer) -> None:
    chunked = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    assert _status(_raw(server.port, chunked)) == 411


def test_a_small_body_reaches_the_application(server: HttpServer) -> None:
    request = urllib.request.Request(f"{server.url}/echo", data=b"x" * 1000, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"1000"


def test_unknown_paths_are_404_and_nothing_else_is_served(server: HttpServer) -> None:
    answer = _raw(server.port, b"GET /etc/passwd HTTP/1.0\r\n\r\n")
    assert _status(answer) == 404
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"error": "not found"}


def test_a_client_that_never_finishes_is_dropped_after_the_read_timeout(
    server: HttpServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: never done
        began = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed the connection
        assert time.monotonic() - began < 5  # read timeout 1 s, with slack for a busy CI


def test_half_open_connections_cannot_take_every_thread(server: HttpServer) -> None:
    """More idle connections than the cap: the extra ones get 503 at once, and once the idle
    ones time out the server answers again. No thread per connection beyond the cap."""
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        for sock in idle:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # started, never finished
        # Once the server has taken the four in, every further client is turned away.
        deadline = time.monotonic() + 5
        while _status(_raw(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")) != 503:
            assert time.monotonic() < deadline, "the fifth connection was never refused"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _status(_raw(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")) == 200:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the server did not recover after the idle connections closed")


def test_it_listens_only_on_the_configured_host() -> None:
    srv = HttpServer("127.0.0.1", 0)
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        with pytest.raises(OSError):
            # Another loopback address: reachable only if the server had bound 0.0.0.0.
            socket.create_connection(("127.0.0.2", srv.port), timeout=1).close()
    finally:
        srv.stop()
