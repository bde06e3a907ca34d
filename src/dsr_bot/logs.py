"""Logging set-up. INFO carries events and case references, never message text or addresses.

A redaction filter is the safety net for the rule: anything that looks like an e-mail
address or a configured secret is masked before a record is written, whatever the level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dsr_bot.config import Settings

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _EMAIL.sub("<email>", message)
        for secret in self._secrets:
            redacted = redacted.replace(secret, "<secret>")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure(settings: Settings | None, *, verbose: bool = False) -> None:
    level = "DEBUG" if verbose else (settings.log_level if settings else "INFO")
    handler = logging.StreamHandler(sys.stderr)
    if settings is not None and settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets: list[str] = []
    if settings is not None:
        for name in (
            "imap_password",
            "smtp_password",
            "slack_bot_token",
            "slack_app_token",
            "slack_signing_secret",
        ):
            value = getattr(settings, name, None)
            if value is not None:
                secrets.append(value.get_secret_value())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter at INFO can include addresses (imapclient logs commands at DEBUG).
    for noisy in ("imapclient", "urllib3", "slack_bolt", "slack_sdk", "apscheduler"):
        logging.getLogger(noisy).setLevel(
            max(logging.getLevelName(level), logging.WARNING) if not verbose else logging.DEBUG
        )
