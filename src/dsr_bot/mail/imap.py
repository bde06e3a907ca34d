"""The privacy mailbox over IMAP (imapclient): fetch new mail by UID, wait for more, file it away.

The intake keeps `(UIDVALIDITY, last UID)` and asks for everything above it (RFC 3501 §2.3.1.1),
so a restart neither skips nor repeats mail. Bodies are read with `BODY.PEEK[]`, which leaves
`\\Seen` alone: a message only changes on the server after it is safely stored, when the
caller hands it to `mark_processed`. Every failure of the connection or the protocol surfaces
as `ImapUnavailable`, which the caller answers by reconnecting with `Backoff`.

Folder names in the settings use `/` for hierarchy; they are translated to the server's own
delimiter and personal-namespace prefix (RFC 2342), so `DSR/Processed` becomes
`DSR.Processed` on a Dovecot Maildir and `INBOX.DSR.Processed` on Courier.
"""

from __future__ import annotations

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from dsr_bot.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

PROCESSED_FLAG = b"$DsrProcessed"
# Keep a body batch's memory bounded even when every message in it is near the size cap.
BATCH_BYTES = 32 * 1024 * 1024
# UID lists in one command: Dovecot accepts 64 KiB lines; stay far below that.
UIDS_PER_COMMAND = 500
# How often a blocking wait looks at the stop event, so shutdown is prompt.
STOP_CHECK_SECONDS = 1.0


class ImapUnavailable(Exception):
    """The server cannot be reached, refused us, or broke the conversation. Reconnect later."""


class ImapLoginRefused(ImapUnavailable):
    """Wrong user or password (or the account is locked): retrying quickly will not help."""


class NoStartTls(ImapUnavailable):
    """The server does not offer STARTTLS: we will not send the password in clear."""


def imap_port(settings: Settings) -> int:
    return settings.imap_port or (993 if settings.imap_security == "ssl" else 143)


def open_imap(settings: Settings, *, timeout: float | None = None) -> IMAPClient:
    """A connection to the configured server, encrypted as configured, not yet logged in.

    The service (`ImapMailbox.connect`) and `dsr-bot doctor` connect through here, so what
    doctor checks is what the service does. The certificate and host name are verified.
    """
    assert settings.imap_host
    context = ssl.create_default_context()
    client = IMAPClient(
        settings.imap_host,
        imap_port(settings),
        ssl=settings.imap_security == "ssl",
        ssl_context=context,
        timeout=timeout if timeout is not None else settings.imap_timeout,
    )
    if settings.imap_security == "starttls":
        if b"STARTTLS" not in client.capabilities():
            client.shutdown()
            raise NoStartTls(
                f"IMAP server {settings.imap_host}:{imap_port(settings)} does not offer "
                "STARTTLS; refusing to send the password in clear "
                "(DSR_BOT_IMAP_SECURITY=none would allow it)"
            )
        client.starttls(context)
    return client


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internaldate: datetime  # when the server received it (aware, UTC): the Art. 12(3) clock
    size: int  # RFC822.SIZE, the full size even when `raw` is truncated
    truncated: bool


class ImapMailbox:
    """One IMAP session on the configured folder. Not thread-safe: one owner at a time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._where = f"{settings.imap_host}:{imap_port(settings)}"
        self._client: IMAPClient | None = None
        self._idling = False
        self._uidvalidity = 0
        self._high_uid = 0  # highest UID fetch_since has handed out on this connection
        self._capabilities: frozenset[bytes] = frozenset()
        self._prefix, self._delimiter = "", "/"
        self._warned_no_uidplus = False

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def uidvalidity(self) -> int:
        self._require()
        return self._uidvalidity

    @property
    def supports_idle(self) -> bool:
        """The server offers IDLE (RFC 2177); `settings.imap_idle` decides whether we use it."""
        return b"IDLE" in self._capabilities

    def connect(self) -> None:
        s = self._settings
        s.require("imap_host", "imap_user", "imap_password")
        assert s.imap_host and s.imap_user and s.imap_password
        self.close()
        with self._guard("connect"):
            client = open_imap(s)
            self._client = client
            client.normalise_times = False  # keep the server's offset; we convert to UTC
        password = s.imap_password.get_secret_value()
        with self._guard("login"):
            try:
                client.login(s.imap_user, password)
            except LoginError as exc:
                reason = _text(exc.args[0] if exc.args else exc).replace(password, "***")
                raise ImapLoginRefused(
                    f"IMAP login refused for user {s.imap_user!r} at {self._where}: {reason} "
                    "(check DSR_BOT_IMAP_USER and DSR_BOT_IMAP_PASSWORD)"
                ) from None
            self._setup()
        log.info(
            "IMAP connected to %s, folder %s (UIDVALIDITY %d, IDLE %s)",
            self._where,
            s.imap_folder,
            self._uidvalidity,
            "yes" if self.supports_idle else "no",
        )

    def _setup(self) -> None:
        client, s = self._require(), self._settings
        # Capabilities change after login (RFC 3501 §6.2.3); ask again.
        self._capabilities = frozenset(client.capabilities())
        personal = client.namespace().personal if b"NAMESPACE" in self._capabilities else None
        if personal:
            prefix, delim = personal[0]
            self._prefix, self._delimiter = _text(prefix), _text(delim or "/")
        else:
            # RFC 3501 §6.3.8: LIST "" "" answers with the hierarchy delimiter.
            root = client.list_folders("", "")
            self._delimiter = _text(root[0][1] or "/") if root else "/"
        for wanted in (s.imap_processed_folder, s.imap_sent_folder):
            if wanted:
                self._ensure_folder(self.server_folder(wanted))
        selected = client.select_folder(self.server_folder(s.imap_folder))
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self._high_uid = 0

    def server_folder(self, name: str) -> str:
        """The server's name for a folder configured as `a/b`."""
        if name.upper() == "INBOX":
            return "INBOX"
        translated = name.replace("/", self._delimiter)
        if self._prefix and not translated.startswith(self._prefix):
            translated = self._prefix + translated
        return translated

    def _ensure_folder(self, folder: str) -> None:
        client = self._require()
        if client.folder_exists(folder):
            return
        try:
            client.create_folder(folder)
        except IMAPClientError:
            if not client.folder_exists(folder):  # lost a race with another instance: fine
                raise
        client.subscribe_folder(folder)  # so that mail clients show it

    def fetch_since(self, last_uid: int, batch: int = 200) -> Iterator[FetchedMessage]:
        """Messages with UID > last_uid, oldest first, in batches of `batch` per FETCH."""
        client = self._require()
        self._high_uid = max(self._high_uid, last_uid)  # the caller has everything up to here
        with self._guard("search"):
            found = client.search(["UID", f"{last_uid + 1}:*"])
        # RFC 3501 §6.4.8: "N:*" always includes the highest UID, even when it is below N.
        uids = sorted(uid for uid in found if uid > last_uid)
        if uids:
            log.info("IMAP: %d new message(s) in %s", len(uids), self._settings.imap_folder)
        limit = self._settings.max_message_bytes
        for start in range(0, len(uids), max(batch, 1)):
            chunk = uids[start : start + max(batch, 1)]
            with self._guard("fetch"):
                meta = self._tolerant(
                    lambda chunk=chunk: client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"])
                )
            present = [uid for uid in chunk if uid in meta]  # others were expunged meanwhile
            sizes = {uid: min(int(meta[uid][b"RFC822.SIZE"]), limit) for uid in present}
            for group in _by_budget(present, sizes):
                # A partial fetch returns the whole message when it is smaller than `limit`,
                # so one command serves normal and oversized mail alike (RFC 3501 §6.4.5).
                with self._guard("fetch"):
                    bodies = self._tolerant(
                        lambda group=group: client.fetch(group, [f"BODY.PEEK[]<0.{limit}>"])
                    )
                for uid in group:
                    raw = bodies.get(uid, {}).get(b"BODY[]<0>")
                    if raw is None:
                        continue
                    size = int(meta[uid][b"RFC822.SIZE"])
                    self._high_uid = max(self._high_uid, uid)
                    yield FetchedMessage(
                        uid=uid,
                        raw=bytes(raw),
                        internaldate=_utc(meta[uid][b"INTERNALDATE"]),
                        size=size,
                        truncated=size > limit,
                    )

    def mark_processed(self, uids: Sequence[int]) -> None:
        """File handled mail away: MOVE (RFC 6851) to the processed folder, or flag it."""
        client, target = self._require(), self._settings.imap_processed_folder
        for start in range(0, len(uids), UIDS_PER_COMMAND):
            chunk = list(uids[start : start + UIDS_PER_COMMAND])
            with self._guard("mark processed"):
                if not target:
                    self._tolerant(
                        lambda chunk=chunk: client.add_flags(chunk, [b"\\Seen", PROCESSED_FLAG])
                    )
                elif b"MOVE" in self._capabilities:
                    self._tolerant(
                        lambda chunk=chunk: client.move(chunk, self.server_folder(target))
                    )
                else:
                    client.copy(chunk, self.server_folder(target))
                    client.add_flags(chunk, [b"\\Deleted"])
                    if b"UIDPLUS" in self._capabilities:
                        client.uid_expunge(chunk)  # RFC 4315: only ours, not others' \Deleted
                    elif not self._warned_no_uidplus:
                        # A plain EXPUNGE would also remove mail a person marked \Deleted.
                        log.warning("IMAP server lacks UIDPLUS: moved mail stays \\Deleted")
                        self._warned_no_uidplus = True

    def wait_for_change(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until new mail is reported, `timeout` passes or `stop` is set.

        True means the server announced EXISTS/RECENT, or mail above the highest UID that
        `fetch_since` returned is already there; callers fetch after every return anyway.
        """
        client = self._require()
        with self._guard("wait"):
            if self._settings.imap_idle and self.supports_idle:
                return self._mail_pending(client) or self._idle(client, timeout, stop)
            pause = min(timeout, self._settings.imap_poll_interval)
            if stop is not None:
                if stop.wait(pause):
                    return False
            else:
                time.sleep(pause)
            return self._mail_pending(client)

    def _mail_pending(self, client: IMAPClient) -> bool:
        # Mail that arrived during our last command was announced by an EXISTS that imaplib
        # filed away, and Dovecot does not repeat it when IDLE starts: without this check it
        # would wait for the next message. NOOP first, so that the search sees a synced view.
        _, responses = client.noop()
        if _reports_new_mail(responses):
            return True
        return any(
            uid > self._high_uid for uid in client.search(["UID", f"{self._high_uid + 1}:*"])
        )

    def _idle(self, client: IMAPClient, timeout: float, stop: threading.Event | None) -> bool:
        deadline = time.monotonic() + timeout
        changed = False
        instant_empty = 0
        while not changed and time.monotonic() < deadline and not (stop and stop.is_set()):
            client.idle()
            self._idling = True
            # RFC 2177: re-issue IDLE before the server's inactivity timer (>= 29 min) fires.
            reissue = min(deadline, time.monotonic() + self._settings.imap_idle_timeout)
            while not changed and time.monotonic() < reissue and not (stop and stop.is_set()):
                slice_ = min(STOP_CHECK_SECONDS, max(reissue - time.monotonic(), 0.0))
                began = time.monotonic()
                responses = client.idle_check(timeout=slice_)
                changed = _reports_new_mail(responses)
                # imapclient swallows EOF in idle_check: a dead socket polls readable at once
                # and yields nothing, again and again. A live one makes poll wait.
                quick = not responses and time.monotonic() - began < slice_ / 2
                instant_empty = instant_empty + 1 if quick else 0
                if instant_empty >= 3:
                    raise ImapUnavailable("connection lost while idling")
            self._idling = False
            _, responses = client.idle_done()
            changed = changed or _reports_new_mail(responses)
        return changed

    def append(self, folder: str, raw: bytes, flags: Sequence[bytes] = (b"\\Seen",)) -> None:
        """Store a copy (e.g. a sent reply in the Sent folder)."""
        client = self._require()
        with self._guard("append"):
            client.append(self.server_folder(folder), raw, flags=tuple(flags))

    def append_many(
        self, folder: str, raws: Sequence[bytes], flags: Sequence[bytes] = (b"\\Seen",)
    ) -> None:
        """Store several copies in one command (RFC 3502 MULTIAPPEND: all or none are
        stored), or one APPEND each where the server lacks it."""
        client = self._require()
        with self._guard("append"):
            if len(raws) > 1 and client.has_capability("MULTIAPPEND"):
                client.multiappend(
                    self.server_folder(folder), [{"msg": raw, "flags": flags} for raw in raws]
                )
                return
            for raw in raws:
                client.append(self.server_folder(folder), raw, flags=tuple(flags))

    def close(self, graceful: bool = True) -> None:
        """Leave IDLE and log out; never raises (it runs on the way out of errors)."""
        client, self._client = self._client, None
        idling, self._idling = self._idling, False
        if client is None:
            return
        try:
            if graceful:
                if idling:
                    client.idle_done()
                client.logout()
                return
        except Exception:
            log.debug("IMAP logout failed", exc_info=True)
        try:
            client.shutdown()
        except Exception:
            log.debug("IMAP socket shutdown failed", exc_info=True)

    def reconnect(self, backoff: Backoff, stop: threading.Event | None = None) -> bool:
        """Connect again, waiting `backoff` between tries. False if `stop` was set first."""
        self.close()
        while not (stop and stop.is_set()):
            try:
                self.connect()
            except ImapUnavailable as exc:
                delay = backoff.next_delay()
                log.info("IMAP unavailable (%s); reconnecting in %.1fs", exc, delay)
                backoff.sleep(delay, stop)
                continue
            backoff.reset()
            return True
        return False

    def _tolerant(self, command: Callable[[], T]) -> T:
        """Run a UID command; if another session expunged some of its messages meanwhile
        (RFC 5530 EXPUNGEISSUED: e.g. the service moved them while `run --once` looked),
        sync with NOOP and run it once more, when the gone UIDs are simply absent."""
        try:
            return command()
        except IMAPClientError as exc:
            if "EXPUNGEISSUED" not in str(exc).upper():
                raise
            log.info("IMAP: messages were moved by another session; resyncing")
            self._require().noop()
            return command()

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise ImapUnavailable("not connected to the IMAP server (call connect() first)")
        return self._client

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn any socket/protocol failure into `ImapUnavailable` and drop the connection."""
        try:
            yield
        except ImapUnavailable:
            self.close(graceful=False)
            raise
        except (IMAPClientError, OSError, EOFError) as exc:
            self.close(graceful=False)
            detail = str(exc) or type(exc).__name__
            if self._settings.imap_password:
                detail = detail.replace(self._settings.imap_password.get_secret_value(), "***")
            raise ImapUnavailable(f"IMAP {action} at {self._where} failed: {detail}") from exc


class Backoff:
    """Exponential backoff with jitter and a cap, so many clients do not reconnect in step."""

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        factor: float = 2.0,
        jitter: float = 0.25,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if not (0 < initial <= maximum) or factor < 1 or not (0 <= jitter < 1):
            raise ValueError("need 0 < initial <= maximum, factor >= 1, 0 <= jitter < 1")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._rand, self._sleep = rand, sleep
        self._base = initial

    def next_delay(self) -> float:
        """The next wait: the base shrunk by up to `jitter`, never above `maximum`."""
        delay = self._base * (1 - self.jitter * self._rand())
        self._base = min(self.maximum, self._base * self.factor)
        return delay

    def reset(self) -> None:
        self._base = self.initial

    def sleep(self, delay: float, stop: threading.Event | None = None) -> None:
        """Wait `delay` seconds (the injected sleep, else interruptibly by `stop`)."""
        if self._sleep is not None:
            self._sleep(delay)
        elif stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)


def _by_budget(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    group: list[int] = []
    total = 0
    for uid in uids:
        if group and total + sizes[uid] > BATCH_BYTES:
            yield group
            group, total = [], 0
        group.append(uid)
        total += sizes[uid]
    if group:
        yield group


def _reports_new_mail(responses: Sequence[object]) -> bool:
    for response in responses:
        if not isinstance(response, tuple) or not response:
            continue
        if response[0] == b"BYE":  # RFC 3501 §7.1.5: the server is closing the connection
            raise ImapUnavailable(f"server closed the connection: {_text(response[-1])}")
        if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
            return True
    return False


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # some servers omit the zone; RFC 3501 requires it, assume UTC
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return re.sub(r"^b'(.*)'$", r"\1", str(value))
