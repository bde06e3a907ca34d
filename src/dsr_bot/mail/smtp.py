"""Hand rendered mail to an SMTP server (or, for the demo, to a folder of .eml files).

The message bytes are composed once, at enqueue time, so a retry sends exactly the same
message with the same Message-ID.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from pathlib import Path

from dsr_bot.config import Settings
from dsr_bot.outbox import ItemRetry, PermanentFailure
from dsr_bot.store.tables import Outbound

log = logging.getLogger(__name__)


class SmtpTransport:
    """One SMTP session per thread, kept open for the rest of an outbox drain (`close()`
    ends it): a TLS handshake and login per acknowledgement would dominate intake time."""

    def __init__(self, settings: Settings) -> None:
        settings.require("smtp_host", "mail_from")
        self._s = settings
        self._local = threading.local()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

    def _send(self, envelope_from: str, recipients: list[str], body: bytes) -> dict:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return conn.sendmail(envelope_from, recipients, body)
            except smtplib.SMTPServerDisconnected:
                self._local.conn = None  # the server timed the idle session out: reconnect
            except (smtplib.SMTPException, OSError):
                self.close()  # leave no half-used session behind a failure
                raise
        conn = self._connect()
        try:
            refused = conn.sendmail(envelope_from, recipients, body)
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn
        return refused

    def _connect(self) -> smtplib.SMTP:
        s = self._s
        host = s.smtp_host or ""
        if s.smtp_security == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                host,
                s.smtp_port or 465,
                timeout=s.smtp_timeout,
                context=ssl.create_default_context(),
            )
        else:
            conn = smtplib.SMTP(host, s.smtp_port or 587, timeout=s.smtp_timeout)
            if s.smtp_security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            conn.login(s.smtp_user, password)
        return conn

    def deliver(self, item: Outbound) -> str | None:
        assert item.body is not None, "mail outbox items carry their composed bytes"
        recipients = list(item.payload.get("to", []))
        envelope_from = item.payload.get("envelope_from", self._s.mail_from)
        try:
            refused = self._send(envelope_from, recipients, item.body)
        except smtplib.SMTPRecipientsRefused as exc:
            # RFC 5321 4.2.1: a 5yz to RCPT TO is about this address: retrying cannot help.
            codes = sorted({code for code, _ in exc.recipients.values()})
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"recipient refused (SMTP {codes})") from None
            # 4yz (e.g. greylisting): about this message, not the server; others may go.
            raise ItemRetry(f"recipient deferred (SMTP {codes})") from None
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"message refused (SMTP {exc.smtp_code})") from None
            raise ItemRetry(f"message deferred (SMTP {exc.smtp_code})") from None
        # Anything else (authentication, MAIL FROM refused, connection) is about our side or
        # the server's state, not this message: retried until the operator fixes it.
        if refused:
            raise PermanentFailure(f"{len(refused)} recipient(s) refused")
        log.info("sent mail outbox item %s (%s)", item.id, item.purpose)
        return str(item.payload.get("message_id") or "") or None


class EmlDirectoryTransport:
    """Writes each mail to `<dir>/<outbox id>-<purpose>.eml`: the demo's stand-in for SMTP."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)

    def deliver(self, item: Outbound) -> str | None:
        assert item.body is not None
        path = self._dir / f"{item.id:06d}-{item.purpose}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(item.body)
        tmp.replace(path)
        return str(item.payload.get("message_id") or "") or None
