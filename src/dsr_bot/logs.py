"""Logging set-up. INFO carries events and case references, never message text or addresses.

Two formats (`DSR_BOT_LOG_FORMAT`): `human` (one line, for journalctl and a terminal) and
`json` (one object per line, for a log pipeline). Structured fields come from `event()`:

    logs.event(log, "case_opened", case_ref="DSR-2026-0042", inbound_id=17)

gives `case_opened case_ref=DSR-2026-0042 inbound_id=17` for people, and the same fields as
JSON keys for machines. Field values must be identifiers (references, ids, counts, closed
vocabularies), never subjects, bodies, names or addresses: Art. 5(1)(c) GDPR (data
minimisation) applies to logs too, and logs are kept and copied far more freely than the
database.

Redaction is the safety net for that rule: anything that looks like an e-mail address and
every configured secret (passwords, tokens, the database password) is masked in the final
formatted line, including exception text and structured fields, whatever the level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from dsr_bot.config import Settings

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# RFC 3986 §3.2.1: in `scheme://userinfo@host` the userinfo is a login (`user[:password]`),
# not an address, so `postgresql://postgres@127.0.0.1/test` must not read `<email>`: that hid
# which role the doctor used. It never contains "/", "?", "#" or a space (§3.2), so the match
# stays inside the authority; greedy, it runs to the last "@" there, so a sloppy unescaped
# address as user name is caught whole. Matched together with _EMAIL, leftmost first, so the
# address pattern never sees a userinfo.
_URL_USERINFO = re.compile(r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]*)@")
_MASKED = re.compile(f"{_URL_USERINFO.pattern}|{_EMAIL.pattern}")
# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
SECRET_SETTINGS = (
    "imap_password",
    "smtp_password",
    "slack_bot_token",
    "slack_app_token",
    "slack_signing_secret",
    "suppression_token",
)


class Redactor:
    def __init__(self, secrets: list[str]) -> None:
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _MASKED.sub(_mask, text)
        for secret in self._secrets:
            text = text.replace(secret, "<secret>")
        return text


def _mask(match: re.Match[str]) -> str:
    if match["scheme"] is None:
        return "<email>"
    user, colon, _password = match["userinfo"].partition(":")
    # A user name may itself be an address (`alice%40example.com`): personal data, masked.
    if "@" in unquote(user):
        user = "<email>"
    # A password is masked whether or not it is a configured secret (as SQLAlchemy shows it).
    return f"{match['scheme']}{user}{':***' if colon else ''}@"


class RedactingFilter(logging.Filter):
    """Masks the message early, so that handlers added by libraries see it redacted too."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class HumanFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor([])

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        # Strings first (a secret with a quote in it is escaped once serialised)…
        payload = {k: self._redact(v) if isinstance(v, str) else v for k, v in payload.items()}
        # …then the whole line: nested values and anything `default=str` produced.
        return self._redact(json.dumps(payload, ensure_ascii=False, default=str))


def event(logger: logging.Logger, action: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured event: `action` names what happened, fields identify it."""
    shown = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    # `extra` may not overwrite LogRecord attributes (logging raises KeyError): rename those.
    extra = {(f"field_{k}" if k in _STANDARD else k): v for k, v in fields.items()}
    logger.log(
        level, "%s%s", action, f" {shown}" if shown else "", extra={"event": action, **extra}
    )


def secrets_of(settings: Settings) -> list[str]:
    found: list[str] = []
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, None)
        if value is not None:
            found.append(value.get_secret_value())
    try:
        from sqlalchemy.engine import make_url

        password = make_url(settings.database_url).password
    except Exception:  # an unparsable URL is reported by the database layer, not here
        password = None
    if password:
        found.append(str(password))
    return found


def configure(settings: Settings | None, *, verbose: bool = False) -> None:
    level = "DEBUG" if verbose else (settings.log_level if settings else "INFO")
    redact = Redactor(secrets_of(settings) if settings is not None else [])
    handler = logging.StreamHandler(sys.stderr)
    if settings is not None and settings.log_format == "json":
        handler.setFormatter(JsonFormatter(redact))
    else:
        handler.setFormatter(HumanFormatter(redact))
    handler.addFilter(RedactingFilter(secrets_of(settings) if settings is not None else []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    threading.excepthook = _log_thread_death
    # Third-party chatter at INFO can include addresses (imapclient logs commands at DEBUG).
    for noisy in ("imapclient", "urllib3", "slack_bolt", "slack_sdk", "apscheduler"):
        logging.getLogger(noisy).setLevel(
            max(logging.getLevelName(level), logging.WARNING) if not verbose else logging.DEBUG
        )


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    """A dying thread's traceback goes through logging (and so the redactor), not raw stderr:
    a traceback can quote the mail being handled."""
    if args.exc_type is SystemExit:
        return
    log = logging.getLogger("dsr_bot")
    exc_info = (
        (args.exc_type, args.exc_value, args.exc_traceback)
        if log.isEnabledFor(logging.DEBUG) and args.exc_value is not None
        else None
    )
    name = args.thread.name if args.thread is not None else "?"
    log.error("thread %s died: %s", name, args.exc_type.__name__, exc_info=exc_info)
