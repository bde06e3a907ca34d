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

NO_SMTPUTF8 = "no SMTPUTF8 at the relay"


class NoStartTls(smtplib.SMTPException):
    """The server does not offer STARTTLS: we will not send the password or mail in clear."""


def smtp_port(settings: Settings) -> int:
    return settings.smtp_port or (465 if settings.smtp_security == "ssl" else 587)


def open_smtp(settings: Settings, *, timeout: float | None = None) -> smtplib.SMTP:
    """A connection to the configured relay, encrypted as configured, greeted (EHLO), not yet
    logged in. The transport and `dsr-bot doctor` connect through here."""
    host = settings.smtp_host or ""
    timeout = timeout if timeout is not None else settings.smtp_timeout
    context = ssl.create_default_context()  # verifies the certificate and the host name
    conn: smtplib.SMTP
    if settings.smtp_security == "ssl":
        conn = smtplib.SMTP_SSL(host, smtp_port(settings), timeout=timeout, context=context)
    else:
        conn = smtplib.SMTP(host, smtp_port(settings), timeout=timeout)
    conn.ehlo()
    if settings.smtp_security == "starttls":
        if not conn.has_extn("starttls"):
            conn.close()
            raise NoStartTls(f"{host}:{smtp_port(settings)} does not offer STARTTLS")
        conn.starttls(context=context)
        conn.ehlo()
    return conn


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

    def _send(
        self, envelope_from: str, recipients: list[str], body: bytes, smtputf8: bool = False
    ) -> dict:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return self._sendmail(conn, envelope_from, recipients, body, smtputf8)
            except smtplib.SMTPServerDisconnected:
                self._local.conn = None  # the server timed the idle session out: reconnect
            except (smtplib.SMTPException, OSError):
                self.close()  # leave no half-used session behind a failure
                raise
        conn = self._connect()
        try:
            refused = self._sendmail(conn, envelope_from, recipients, body, smtputf8)
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn
        return refused

    @staticmethod
    def _sendmail(
        conn: smtplib.SMTP, envelope_from: str, recipients: list[str], body: bytes, utf8: bool
    ) -> dict:
        if not utf8:
            return conn.sendmail(envelope_from, recipients, body)
        # RFC 6531 3.4: a UTF-8 mailbox may only be sent where the server offers SMTPUTF8;
        # a relay without it cannot deliver this letter, now or on retry.
        conn.ehlo_or_helo_if_needed()
        if not conn.has_extn("smtputf8"):
            raise PermanentFailure(NO_SMTPUTF8)
        return conn.sendmail(envelope_from, recipients, body, mail_options=["SMTPUTF8"])

    def _connect(self) -> smtplib.SMTP:
        s = self._s
        conn = open_smtp(s)
        if s.smtp_user:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            conn.login(s.smtp_user, password)
        return conn

    def deliver(self, item: Outbound) -> str | None:
        assert item.body is not None, "mail outbox items carry their composed bytes"
        recipients = list(item.payload.get("to", []))
        envelope_from = item.payload.get("envelope_from", self._s.mail_from)
        try:
            refused = self._send(
                envelope_from, recipients, item.body, bool(item.payload.get("smtputf8"))
            )
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
