"""The IMAP adapter against a real Dovecot (tests/fixtures/dovecot.py)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dsr_bot.config import load_settings
from dsr_bot.mail.imap import Backoff, ImapLoginRefused, ImapMailbox, ImapUnavailable
from tests.fixtures.dovecot import DovecotServer, MailboxAccount

pytest_plugins = ["tests.fixtures.dovecot"]


def message(n: int, body: str = "hello", extra: str = "") -> bytes:
    return (
        f"From: person{n}@example.org\r\nTo: privacy@example.com\r\n"
        f"Subject: request {n}\r\nMessage-ID: <m{n}@example.org>\r\n{extra}\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def open_mailbox(mailbox: MailboxAccount) -> Iterator[Any]:
    """Factory: a connected ImapMailbox on the test account with some settings overridden."""
    opened: list[ImapMailbox] = []

    def make(**overrides: Any) -> ImapMailbox:
        box = ImapMailbox(load_settings(**mailbox.settings_overrides(**overrides)))
        box.connect()
        opened.append(box)
        return box

    yield make
    for box in opened:
        box.close()


def later(delay: float, action: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


def test_connect_selects_the_folder_and_reports_its_uidvalidity(mailbox, open_mailbox):
    box = open_mailbox()
    with mailbox.client() as c:
        expected = c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    assert box.connected
    assert box.uidvalidity == expected
    assert box.supports_idle  # Dovecot offers IDLE


def test_connect_creates_and_subscribes_processed_and_sent_folders(mailbox, open_mailbox):
    open_mailbox(imap_processed_folder="DSR/Processed", imap_sent_folder="Sent")
    assert {"DSR/Processed", "Sent"} <= set(mailbox.folders())
    assert {"DSR/Processed", "Sent"} <= set(mailbox.subscribed())
    # "/" in the setting became the server's own delimiter, not a literal character.
    assert mailbox.delimiter() == "."
    with mailbox.client() as c:
        assert "DSR.Processed" in [name for _flags, _delim, name in c.list_folders()]
    open_mailbox()  # a second connect finds them and does not fail


def test_fetch_since_returns_exactly_the_new_messages_and_leaves_them_unread(mailbox, open_mailbox):
    uids = [mailbox.append(message(n)) for n in range(3)]
    box = open_mailbox()
    before = datetime.now(UTC)

    fetched = list(box.fetch_since(0))

    assert [m.uid for m in fetched] == uids
    assert [m.raw for m in fetched] == [message(n) for n in range(3)]
    for m in fetched:
        assert m.internaldate.tzinfo is not None and m.internaldate.utcoffset() == timedelta(0)
        assert abs(m.internaldate - before) < timedelta(minutes=1)
        assert m.size == len(m.raw) and not m.truncated
    assert all(b"\\Seen" not in flags for flags in mailbox.flags().values())
    assert [m.uid for m in box.fetch_since(uids[1])] == [uids[2]]


def test_fetch_since_ignores_the_last_message_that_n_star_always_returns(mailbox, open_mailbox):
    uids = [mailbox.append(message(n)) for n in range(2)]
    box = open_mailbox()
    # "UID 3:*" with highest UID 2 still matches UID 2 (RFC 3501 §6.4.8).
    assert list(box.fetch_since(uids[-1])) == []
    assert list(box.fetch_since(uids[-1] + 10)) == []


def test_fetch_since_in_small_batches_keeps_order(mailbox, open_mailbox):
    uids = [mailbox.append(message(n)) for n in range(5)]
    box = open_mailbox()
    assert [m.uid for m in box.fetch_since(0, batch=2)] == uids


def test_oversized_message_is_fetched_truncated_not_dropped(mailbox, open_mailbox):
    big = message(1, body="x" * 5000)
    big_uid = mailbox.append(big)
    small_uid = mailbox.append(message(2))
    box = open_mailbox(max_message_bytes=1000)

    fetched = {m.uid: m for m in box.fetch_since(0)}

    assert fetched[big_uid].truncated
    assert fetched[big_uid].raw == big[:1000]
    assert fetched[big_uid].size == len(big)
    assert not fetched[small_uid].truncated and fetched[small_uid].raw == message(2)
    assert all(b"\\Seen" not in flags for flags in mailbox.flags().values())


def test_mark_processed_moves_to_the_processed_folder(mailbox, open_mailbox):
    first, second = mailbox.append(message(1)), mailbox.append(message(2))
    box = open_mailbox(imap_processed_folder="DSR/Processed")

    box.mark_processed([first])

    assert mailbox.uids("INBOX") == [second]
    assert mailbox.fetch_all("DSR/Processed") == [message(1)]
    assert [m.uid for m in box.fetch_since(0)] == [second]


def test_flag_mode_marks_seen_and_processed_and_leaves_mail_in_place(mailbox, open_mailbox):
    first, second = mailbox.append(message(1)), mailbox.append(message(2))
    box = open_mailbox(imap_processed_folder="")

    box.mark_processed([first])

    flags = mailbox.flags()
    assert set(flags[first]) >= {b"\\Seen", b"$DsrProcessed"}
    assert b"\\Seen" not in flags[second]
    assert mailbox.uids() == [first, second]
    assert not any("Processed" in name for name in mailbox.folders())
    # Mail left in place below the caller's last UID is not "new": no busy wake-ups.
    assert list(box.fetch_since(second)) == []
    assert box.wait_for_change(timeout=0.3) is False


def test_append_stores_a_copy_marked_seen(mailbox, open_mailbox):
    box = open_mailbox(imap_sent_folder="Sent")
    box.append("Sent", message(9))
    assert mailbox.fetch_all("Sent") == [message(9)]
    assert [b"\\Seen" in f for f in mailbox.flags("Sent").values()] == [True]


def test_idle_wakes_within_a_second_and_a_half_of_an_append(mailbox, open_mailbox):
    box = open_mailbox()
    appended_at: list[float] = []
    later(0.3, lambda: (mailbox.append(message(1)), appended_at.append(time.monotonic())))

    changed = box.wait_for_change(timeout=10)
    woke_at = time.monotonic()

    assert changed
    assert appended_at and woke_at - appended_at[0] < 1.5
    assert [m.raw for m in box.fetch_since(0)] == [message(1)]


def test_idle_reissued_within_the_idle_timeout_still_sees_new_mail(mailbox, open_mailbox):
    box = open_mailbox(imap_idle_timeout=0.4)
    later(1.2, lambda: mailbox.append(message(1)))  # after at least two re-issues
    started = time.monotonic()
    assert box.wait_for_change(timeout=10)
    assert time.monotonic() - started < 1.2 + 1.5


def test_idle_times_out_quietly_and_stops_promptly(mailbox, open_mailbox):
    box = open_mailbox()
    started = time.monotonic()
    assert box.wait_for_change(timeout=0.5) is False
    assert 0.4 < time.monotonic() - started < 1.5

    stop = threading.Event()
    later(0.3, stop.set)
    started = time.monotonic()
    assert box.wait_for_change(timeout=60, stop=stop) is False
    assert time.monotonic() - started < 1.5
    assert list(box.fetch_since(0)) == []  # the connection is still usable after IDLE


def test_polling_without_idle_reports_new_mail_after_the_poll_interval(mailbox, open_mailbox):
    box = open_mailbox(imap_idle=False, imap_poll_interval=0.3)
    started = time.monotonic()
    assert box.wait_for_change(timeout=10) is False
    assert 0.25 < time.monotonic() - started < 1.0

    mailbox.append(message(1))
    assert box.wait_for_change(timeout=10) is True

    stop = threading.Event()
    later(0.2, stop.set)
    slow = ImapMailbox(load_settings(**mailbox.settings_overrides(imap_idle=False)))
    slow.connect()
    started = time.monotonic()
    assert slow.wait_for_change(timeout=60, stop=stop) is False  # 60 s poll cut short
    assert time.monotonic() - started < 1.0
    slow.close()


@pytest.fixture
def restartable(dovecot: DovecotServer) -> Iterator[DovecotServer]:
    """The session server, guaranteed running again after a test that stops it."""
    yield dovecot
    if not dovecot.is_running:
        dovecot.start()


def test_stopped_server_raises_unavailable_quickly_and_restart_allows_reconnect(
    mailbox, open_mailbox, restartable
):
    uid = mailbox.append(message(1))
    box = open_mailbox(imap_timeout=3)
    restartable.stop()

    started = time.monotonic()
    with pytest.raises(ImapUnavailable):
        list(box.fetch_since(0))
    assert time.monotonic() - started < 3
    assert not box.connected
    with pytest.raises(ImapUnavailable, match="connect"):
        box.connect()

    restartable.start()
    box.connect()
    assert [m.uid for m in box.fetch_since(0)] == [uid]


def test_server_stopping_during_idle_raises_unavailable(mailbox, open_mailbox, restartable):
    box = open_mailbox(imap_timeout=3)
    later(0.3, restartable.stop)
    started = time.monotonic()
    with pytest.raises(ImapUnavailable):
        box.wait_for_change(timeout=30)
    assert time.monotonic() - started < 3
    box.close()  # never raises, even on a dead connection
    box.close()


def test_reconnect_waits_with_backoff_until_the_server_is_back(mailbox, open_mailbox, restartable):
    box = open_mailbox()
    restartable.stop()
    delays: list[float] = []
    backoff = Backoff(initial=0.05, maximum=0.2, sleep=lambda d: (delays.append(d), time.sleep(d)))
    later(0.6, restartable.start)

    assert box.reconnect(backoff) is True
    assert box.connected and len(delays) >= 2
    assert max(delays) <= 0.2
    assert backoff.next_delay() <= 0.05  # reset after success


def test_reconnect_gives_up_when_stopped(mailbox, restartable):
    box = ImapMailbox(load_settings(**mailbox.settings_overrides()))
    restartable.stop()
    stop = threading.Event()
    later(0.3, stop.set)
    started = time.monotonic()
    assert box.reconnect(Backoff(initial=5, maximum=5), stop) is False
    assert time.monotonic() - started < 1.5


def test_silent_server_times_out_instead_of_hanging():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings = load_settings(
            imap_host="127.0.0.1",
            imap_port=listener.getsockname()[1],
            imap_user="u",
            imap_password="p",
            imap_security="none",
            imap_timeout=1,
        )
        started = time.monotonic()
        with pytest.raises(ImapUnavailable):
            ImapMailbox(settings).connect()
        assert time.monotonic() - started < 3


def test_wrong_password_is_refused_clearly_without_echoing_it(mailbox, caplog):
    secret = "Wr0ng-" + mailbox.password
    settings = load_settings(**mailbox.settings_overrides(imap_password=secret))
    box = ImapMailbox(settings)
    with caplog.at_level(logging.DEBUG), pytest.raises(ImapLoginRefused) as err:
        box.connect()
    assert isinstance(err.value, ImapUnavailable)
    text = str(err.value)
    assert "login refused" in text and mailbox.user in text and "DSR_BOT_IMAP_PASSWORD" in text
    assert secret not in text and secret not in repr(err.value.__cause__)
    assert secret not in caplog.text
    assert not box.connected


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_is_never_silently_skipped(mailbox, security):
    # The test server speaks plain IMAP only: both modes must fail, not fall back.
    settings = load_settings(**mailbox.settings_overrides(imap_security=security))
    with pytest.raises(ImapUnavailable) as err:
        ImapMailbox(settings).connect()
    if security == "starttls":
        assert "STARTTLS" in str(err.value)


def test_operations_before_connect_raise_unavailable(mailbox):
    box = ImapMailbox(load_settings(**mailbox.settings_overrides()))
    with pytest.raises(ImapUnavailable, match="not connected"):
        list(box.fetch_since(0))
    box.close()


def test_each_test_gets_an_isolated_mailbox(dovecot):
    one, two = dovecot.add_user(), dovecot.add_user()
    one.append(message(1))
    assert one.uids() == [1] and two.uids() == []


def test_backoff_grows_to_a_cap_with_bounded_jitter_and_resets():
    backoff = Backoff(initial=1, maximum=8, jitter=0.5, rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next_delay() == 1

    jittered = Backoff(initial=4, maximum=8, jitter=0.5, rand=lambda: 1.0)
    assert jittered.next_delay() == 2  # up to half shaved off, never added
    with pytest.raises(ValueError):
        Backoff(initial=0)


def test_mail_arriving_before_the_wait_is_reported_at_once(mailbox, open_mailbox):
    box = open_mailbox()
    assert list(box.fetch_since(0)) == []
    mailbox.append(message(1))  # lands between our fetch and our IDLE
    started = time.monotonic()
    assert box.wait_for_change(timeout=10)
    assert time.monotonic() - started < 1.5
