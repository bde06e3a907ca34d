"""A hostile POST to /slack/events must not stall the bot: the real `dsr-bot run` process,
Slack HTTP mode, a real Dovecot and SMTP server, and the fake Slack Web API."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from tests.fixtures.bot import Bot, stop, wait_until
from tests.fixtures.dovecot import free_port
from tests.fixtures.slack_api import BOT_TOKEN, FakeSlack
from tests.fixtures.slack_payloads import CHANNEL
from tests.intake.test_intake_e2e import EN_ACCESS

SECRET = "hostile-test-signing-secret"
BIG = 10 * 1024 * 1024


def _get(url: str) -> tuple[int, float]:
    began = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, time.monotonic() - began
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - began
    except urllib.error.URLError:
        return 0, time.monotonic() - began  # not listening (yet)


def _stream_bad_post(port: int, size: int, result: dict[str, Any]) -> None:
    """POST `size` bytes with a forged signature, as fast as the socket takes them."""
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {int(time.time())}\r\n"
        f"X-Slack-Signature: v0={'0' * 64}\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < size:
                sent += sock.send(chunk[: size - sent])
        except OSError:
            pass  # the server answered and closed: it did not wait for the body
        result["sent"] = sent
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
        result["status"] = int(answer.split(b" ", 2)[1]) if answer else None


def test_a_10_mb_forged_post_neither_stalls_the_probes_nor_intake(
    bot: Bot, mailbox: Any, smtp_sink: Any, slack_api: FakeSlack
) -> None:
    port = free_port()
    proc = bot.start(
        http_port=port,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_mode="http",
        slack_api_url=slack_api.url,
        slack_channel=CHANNEL,
        slack_approvers=json.dumps(["UAPPROVER"]),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(base + "/readyz")[0] == 200, timeout=60)
        result: dict[str, Any] = {}
        attacker = threading.Thread(target=_stream_bad_post, args=(port, BIG, result))
        attacker.start()
        latencies = []
        mailbox.append(EN_ACCESS)
        while attacker.is_alive() or len(latencies) < 5:
            status, took = _get(base + "/healthz")
            assert status == 200
            latencies.append(took)
        attacker.join()
        assert result["status"] == 413
        print(  # the figure for the record (pytest -s)
            f"/healthz during a 10 MB forged POST: max {max(latencies) * 1000:.0f} ms, "
            f"median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms, "
            f"{len(latencies)} probes; {result['sent']} bytes sent before the 413"
        )
        assert max(latencies) < 1.0, latencies
        # The mail that arrived meanwhile is acknowledged as usual.
        wait_until(lambda: len(smtp_sink.received) == 1, timeout=60)
        # Nothing of the forged request reached a listener.
        assert not [c for c in slack_api.calls if c.method.startswith("views.")]
    finally:
        code, err = stop(proc)
    assert code == 0, err[-2000:]
