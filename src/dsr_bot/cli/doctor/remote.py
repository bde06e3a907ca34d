"""Doctor's checks of the mail servers: IMAP and SMTP. See `doctor.py`."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator

from dsr_bot.cli.doctor.findings import TIMEOUT, Finding, fail, ok, skip
from dsr_bot.config import Settings, env_name
from dsr_bot.mail.imap import NoStartTls as NoImapStartTls
from dsr_bot.mail.imap import imap_port, open_imap
from dsr_bot.mail.smtp import NoStartTls as NoSmtpStartTls
from dsr_bot.mail.smtp import open_smtp, smtp_port

# Doctor is run by a person waiting at a terminal: fail in seconds, not the service's 30 s.


def _network_fix(prefix: str, exc: BaseException, default_port: str) -> str:
    host, port, security = (env_name(f"{prefix}_{n}") for n in ("host", "port", "security"))
    if isinstance(exc, socket.gaierror):
        return f"the host name does not resolve: check {host} and DNS"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens there: check {host} and {port} ({default_port}), is the server up?"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer: check {host}/{port} and that a firewall allows the connection"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "the certificate is not trusted for this host name: use the name on the certificate"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {security} and {port} must match ({default_port})"
    return f"check {host}, {port} and {security}"


# -- IMAP -----------------------------------------------------------------------------------
def check_imap(settings: Settings) -> Iterator[Finding]:
    from imapclient.exceptions import IMAPClientError, LoginError

    s = settings
    if not (s.imap_host and s.imap_user and s.imap_password):
        yield skip("IMAP", "not checked: IMAP settings missing (see above)")
        return
    where = f"{s.imap_host}:{imap_port(s)}"
    ports = "993 = ssl, 143 = starttls"
    try:
        client = open_imap(s, timeout=min(s.imap_timeout, TIMEOUT))
    except NoImapStartTls:
        yield fail(
            "IMAP connection",
            f"{where} does not offer STARTTLS",
            f"use {env_name('imap_security')}=ssl with port 993 (or none on a trusted "
            "local network only)",
        )
        return
    except (OSError, IMAPClientError) as exc:
        yield fail(
            "IMAP connection",
            f"{where}: {exc or type(exc).__name__}",
            _network_fix("imap", exc, ports),
        )
        yield skip("IMAP login", "not checked: no connection")
        return
    yield ok("IMAP connection", f"{where} ({s.imap_security})")
    try:
        try:
            client.login(s.imap_user, s.imap_password.get_secret_value())
        except LoginError as exc:
            yield fail(
                "IMAP login",
                f"refused for {s.imap_user!r}: {_text(exc)}",
                f"check {env_name('imap_user')} and {env_name('imap_password')} (after a password "
                "change: update the env file, then restart)",
            )
            return
        yield ok("IMAP login", f"logged in as {s.imap_user!r}")
        yield from _imap_folders(client, s)
    except (OSError, IMAPClientError) as exc:
        yield fail("IMAP", f"{where}: {exc}", "check the server's log; retry `dsr-bot doctor`")
    finally:
        try:
            client.logout()
        except Exception:
            client.shutdown()


def _imap_folders(client: object, s: Settings) -> Iterator[Finding]:
    caps = set(client.capabilities())  # type: ignore[attr-defined]
    prefix, delim = "", "/"
    personal = client.namespace().personal if b"NAMESPACE" in caps else None  # type: ignore[attr-defined]
    if personal:
        prefix, delim = _text(personal[0][0]), _text(personal[0][1] or "/")

    def server_name(name: str) -> str:  # as ImapMailbox.server_folder (RFC 2342 namespaces)
        if name.upper() == "INBOX":
            return "INBOX"
        translated = name.replace("/", delim)
        return translated if translated.startswith(prefix) else prefix + translated

    folder = server_name(s.imap_folder)
    if not client.folder_exists(folder):  # type: ignore[attr-defined]
        yield fail(
            "IMAP folder",
            f"{s.imap_folder!r} does not exist on the server",
            f"correct {env_name('imap_folder')} (folders are written a/b) or create the folder",
        )
        return
    info = client.select_folder(folder, readonly=True)  # type: ignore[attr-defined]
    idle = "IDLE" if b"IDLE" in caps else f"no IDLE: polling every {s.imap_poll_interval:.0f} s"
    yield ok("IMAP folder", f"{s.imap_folder!r}: {int(info.get(b'EXISTS', 0))} message(s), {idle}")
    for setting in ("imap_processed_folder", "imap_sent_folder"):
        name = getattr(s, setting)
        if name and not client.folder_exists(server_name(name)):  # type: ignore[attr-defined]
            yield ok(
                f"IMAP {setting.split('_')[1]} folder", f"{name!r} will be created at first run"
            )
        elif name:
            yield ok(f"IMAP {setting.split('_')[1]} folder", f"{name!r} exists")


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Exception) and value.args:
        return _text(value.args[0])
    return str(value)


# -- SMTP -----------------------------------------------------------------------------------
def check_smtp(settings: Settings) -> Iterator[Finding]:
    s = settings
    if s.mail_outbox_dir is not None:
        yield skip("SMTP", f"not used: mail is written as .eml files to {s.mail_outbox_dir}")
        return
    if not s.smtp_host:
        yield skip("SMTP", f"not checked: {env_name('smtp_host')} is not set")
        return
    where = f"{s.smtp_host}:{smtp_port(s)}"
    ports = "465 = ssl, 587 = starttls"
    try:
        conn = open_smtp(s, timeout=min(s.smtp_timeout, TIMEOUT))
    except NoSmtpStartTls:
        yield fail(
            "SMTP connection",
            f"{where} does not offer STARTTLS",
            f"use {env_name('smtp_security')}=ssl with port 465 (none only on a trusted network)",
        )
        return
    except (OSError, smtplib.SMTPException) as exc:
        yield fail(
            "SMTP connection",
            f"{where}: {exc or type(exc).__name__}",
            _network_fix("smtp", exc, ports),
        )
        return
    try:
        yield ok("SMTP connection", f"{where} ({s.smtp_security}), EHLO accepted")
        if s.smtp_user:
            try:
                conn.login(
                    s.smtp_user, s.smtp_password.get_secret_value() if s.smtp_password else ""
                )
            except smtplib.SMTPAuthenticationError as exc:
                yield fail(
                    "SMTP login",
                    f"refused for {s.smtp_user!r} ({exc.smtp_code})",
                    f"check {env_name('smtp_user')} and {env_name('smtp_password')}",
                )
                return
            except smtplib.SMTPNotSupportedError:
                yield fail(
                    "SMTP login",
                    "the server offers no AUTH on this connection",
                    f"most servers allow login only after TLS: set {env_name('smtp_security')}",
                )
                return
            yield ok("SMTP login", f"logged in as {s.smtp_user!r}")
        code, _ = conn.mail(s.mail_from or "")
        conn.rset()
        if code != 250:
            yield fail(
                "SMTP sender",
                f"MAIL FROM {env_name('mail_from')} refused ({code})",
                "the server must let this login send as the privacy address",
            )
        else:
            yield ok("SMTP sender", "MAIL FROM accepted (nothing was sent)")
    except (OSError, smtplib.SMTPException) as exc:
        yield fail("SMTP", f"{where}: {exc}", "check the mail server's log")
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
