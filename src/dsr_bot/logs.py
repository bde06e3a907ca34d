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

Everything here runs on text an outsider may choose (Slack request bodies, mail headers in
exception text), so it is linear in the length of the line (issue 13: the old e-mail regex
over word characters before an "@" was quadratic and froze the process for minutes on one POST).
Library loggers that log request bodies at INFO (Bolt logs a bad-signature request with its
whole body) are held at WARNING by name, in a way Bolt's `get_bolt_logger` cannot undo: it
copies the root level onto each `slack_bolt.<Class>` logger it creates, so a level set on
`slack_bolt` alone is overridden. A handler filter enforces the floor whatever the logger's
own level, and any `body:` payload that still reaches a handler is dropped.
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

# Around each "@": a local part read backwards (at most 64 characters, RFC 5321 4.5.3.1),
# or a quoted one, and a domain read forwards (at most 255). Bounded slices, so each "@" costs
# a constant and a line costs O(n). Single-label domains (anna@localhost) are masked too.
_LOCAL_REVERSED = re.compile(r"[\w.+\-=!#$%&'*/?^`{|}~]{1,64}")
_DOMAIN = re.compile(r"\[?[\w-]+(?:\.[\w-]+)*\]?")
_QUOTED_LOCAL_REVERSED = re.compile(r'"(?:[^"\\\n]|"\\){0,64}"')
# Loggers of libraries that may log request or response bodies at INFO/DEBUG.
BODY_LOGGERS = ("slack_bolt", "slack_sdk", "urllib3")
_NOISY = ("imapclient", *BODY_LOGGERS, "apscheduler")
_BODY_MARK = "body:"
# Each "@" costs a few microseconds of Python; past this many the rest of the line is masked
# whole, so a line of a million "a@" costs milliseconds, not seconds.
MAX_ADDRESSES_PER_LINE = 1_000


def redact_emails(text: str) -> str:
    """Mask every e-mail address in `text` as "<email>", in time linear in len(text)."""
    out: list[str] = []
    done = 0  # text[:done] is already in `out`
    at = text.find("@")
    seen = 0
    while at != -1:
        seen += 1
        if seen > MAX_ADDRESSES_PER_LINE:  # no real line has this many: mask the rest whole
            out.append(text[done : max(done, at - 66)])
            out.append("<redacted>")
            return "".join(out)
        login = _url_login(text, at, done)
        if login is not None:
            start, end, shown = login
            out.append(text[done:start])
            out.append(shown)
            done = end
            at = text.find("@", done)
            continue
        window = text[max(done, at - 66) : at][::-1]
        local = _QUOTED_LOCAL_REVERSED.match(window) or _LOCAL_REVERSED.match(window)
        domain = _DOMAIN.match(text, at + 1, min(len(text), at + 256))
        if local and domain:
            start, end = at - local.end(), domain.end()
            while end > at + 1 and text[end - 1] in ".-":
                end -= 1  # "write to anna@x.se." ends the sentence, not the domain
            out.append(text[done:start])
            out.append("<email>")
            done = end
            at = text.find("@", end)
        else:
            at = text.find("@", at + 1)
    out.append(text[done:])
    return "".join(out)


def neutralise_lines(text: str) -> str:
    """A logged value cannot start a new log line (CR/LF injection into journald or a file)."""
    if "\r" in text or "\n" in text or "\u2028" in text:
        text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\u2028", "\\u2028")
    return text


def drop_body(text: str) -> str:
    """Cut a "body:" payload (Bolt: "... body: {...}", "request body: ...") from a message."""
    found = text.lower().find(_BODY_MARK)
    return text if found == -1 else text[: found + len(_BODY_MARK)] + " <dropped>"


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
        text = redact_emails(text)
        for secret in self._secrets:
            text = text.replace(secret, "<secret>")
        return text


def _url_login(text: str, at: int, floor: int) -> tuple[int, int, str] | None:
    """If the "@" at `at` is in the userinfo of a `scheme://user[:password]@host` URL, return
    where that userinfo starts, where the host begins, and what to show instead; else None.

    RFC 3986 3.2.1: the userinfo is a login, not an address, so
    `postgresql://postgres@127.0.0.1/test` keeps naming its database role. It never holds
    "/", "?", "#" or white space (3.2), so both searches stay in bounded windows; the
    authority's last "@" ends it, so a sloppy unescaped address as user name is caught whole.
    """
    window = text[max(floor, at - 256) : at]
    slashes = window.rfind("://")
    if slashes == -1 or any(ch in window[slashes + 3 :] for ch in _AUTHORITY_END):
        return None
    scheme = _SCHEME_REVERSED.match(window[:slashes][::-1])
    if scheme is None:
        return None
    start = at - len(window) + slashes + 3
    authority = text[at : at + 256]
    for i, ch in enumerate(authority):
        if ch in _AUTHORITY_END:
            authority = authority[:i]
            break
    last_at = at + authority.rfind("@")
    user, colon, _password = text[start:last_at].partition(":")
    # A user name may itself be an address (`alice%40example.com`): personal data, masked.
    if "@" in unquote(user):
        user = "<email>"
    # A password is masked whether or not it is a configured secret (as SQLAlchemy shows it).
    return start, last_at + 1, f"{user}{':***' if colon else ''}@"


_AUTHORITY_END = "/?# \t\r\n"
_SCHEME_REVERSED = re.compile(r"[A-Za-z0-9+.-]{0,31}[A-Za-z]")


class RedactingFilter(logging.Filter):
    """Masks the message early, so that handlers added by libraries see it redacted too.

    Also drops library records below `library_floor` (see the module docstring) and any
    "body:" payload, and neutralises CR/LF, before anything formats the record.
    """

    def __init__(self, secrets: list[str], library_floor: int = logging.WARNING) -> None:
        super().__init__()
        self._redact = Redactor(secrets)
        self._floor = library_floor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._floor and record.name.split(".", 1)[0] in BODY_LOGGERS:
            return False
        message = record.getMessage()
        redacted = neutralise_lines(self._redact(drop_body(message)))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def pin_library_levels(level: int) -> None:
    """Set every existing logger of the noisy libraries to `level`, children included.

    Call after building objects that create loggers with their own level (Bolt's App).
    """
    for name in list(logging.Logger.manager.loggerDict):
        if name.split(".", 1)[0] in _NOISY or name.split(":", 1)[0] in BODY_LOGGERS:
            logging.getLogger(name).setLevel(level)


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
    library_level = max(logging.getLevelName(level), logging.WARNING)
    floor = logging.DEBUG if verbose else library_level
    handler.addFilter(RedactingFilter(secrets_of(settings) if settings is not None else [], floor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    threading.excepthook = _log_thread_death
    # Third-party chatter at INFO can include addresses (imapclient logs commands at DEBUG)
    # and whole request bodies (Bolt). By name, children included; the filter above holds
    # the floor for loggers created later with a copied root level.
    pin_library_levels(logging.DEBUG if verbose else library_level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else library_level)


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
