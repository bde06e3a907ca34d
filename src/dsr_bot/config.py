"""Settings: read once from `DSR_BOT_*` environment variables and an optional TOML file.

Everything configurable lives here, so an operator has one table to read (README) and the
rest of the code receives a validated `Settings` object instead of reading the environment.
Environment variables win over the file, so a secret can stay out of the file.

A bad setting stops the program with one line that names the variable and what was expected;
secret values are never echoed back.
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Security = Literal["ssl", "starttls", "none"]

ENV_PREFIX = "DSR_BOT_"


class ConfigError(Exception):
    """A setting is missing or invalid. `str()` is one line meant for the operator."""


# Free text in a controller profile: one string per letter language (`{sv = "…", en = "…"}`),
# so an English letter never prints the Swedish text. A plain string is accepted for
# compatibility and used in every language; `templates check` reports it.
LocalText = str | dict[str, str]
LocalList = list[str] | dict[str, list[str]]


class ControllerProfile(BaseModel):
    """The controller's facts that replies must state (Art. 13/15): kept out of templates."""

    model_config = {"extra": "forbid"}

    name: str
    org_number: str = ""
    postal_address: str = ""
    phone: str = ""
    # The same number as dialled from abroad ("+46 8 22 40 20"): letters not in Swedish.
    phone_international: str = ""
    email: str = ""
    dpo_name: str = ""
    dpo_contact: str = ""
    parent_company: str = ""
    # Art. 15(1)(c): recipients, each with its country ("Ortomedic AS, Norge (EES)").
    recipients: LocalList = Field(default_factory=list)
    # Art. 28 processors by name, where the controller lists them (also recipients).
    processors: LocalList = Field(default_factory=list)
    # Art. 15(2), 15(1)(c): whether data leaves the EU/EEA. None = the profile does not say,
    # and an access letter cannot be written; True needs the safeguards (Art. 46) in words.
    transfers_outside_eea: bool | None = None
    transfer_safeguards: LocalText = ""
    # Art. 15(1)(a), (b), (g) as the privacy policy states them; the access letter uses what
    # fulfilment found about the person, and these where it found nothing more specific.
    purposes: LocalList = Field(default_factory=list)
    categories: LocalList = Field(default_factory=list)
    sources: LocalList = Field(default_factory=list)
    retention: LocalText = ""
    privacy_policy_url: str = ""
    supervisory_authority: LocalText = Field(
        default_factory=lambda: {
            "sv": "Integritetsskyddsmyndigheten (IMY, tidigare Datainspektionen), www.imy.se",
            "en": "the Swedish Authority for Privacy Protection (Integritetsskyddsmyndigheten, "
            "IMY, formerly Datainspektionen), www.imy.se",
            "nb": "Integritetsskyddsmyndigheten (IMY), det svenske datatilsynet, www.imy.se",
            "da": "Integritetsskyddsmyndigheten (IMY), den svenske datatilsynsmyndighed, "
            "www.imy.se",
        }
    )

    @model_validator(mode="after")
    def _safeguards(self) -> ControllerProfile:
        if self.transfers_outside_eea and not self.transfer_safeguards:
            raise ValueError(
                "transfers_outside_eea = true needs transfer_safeguards: the letter must say "
                "which safeguards apply (Art. 15(2), 46)"
            )
        return self


class Settings(BaseSettings):
    """All settings. Field `imap_host` is env `DSR_BOT_IMAP_HOST` or `[imap] host` in TOML."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    database_url: str = "sqlite:///dsr-bot.sqlite3"
    # `run` and `db upgrade` wait this long for a database that is down at start (an outage
    # is not a configuration error); 20 min rides out a 15-minute outage.
    database_wait_seconds: float = Field(default=1200.0, ge=0)
    timezone: str = "Europe/Stockholm"
    holiday_country: str = "SE"

    imap_host: str | None = None
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_security: Security = "ssl"
    imap_folder: str = "INBOX"
    # Where handled mail goes; empty means "leave it and set the \\Seen+$DsrProcessed flags".
    imap_processed_folder: str = "DSR/Processed"
    # Copy of every sent reply (APPEND); empty disables the copy.
    imap_sent_folder: str = "Sent"
    imap_idle: bool = True
    # RFC 2177: clients should re-issue IDLE at least every 29 minutes; we use less.
    imap_idle_timeout: float = Field(default=300.0, gt=0)
    imap_poll_interval: float = Field(default=60.0, gt=0)
    imap_timeout: float = Field(default=30.0, gt=0)

    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Security = "starttls"
    smtp_timeout: float = Field(default=30.0, gt=0)

    mail_from: str | None = None
    # Extra addresses that are "us" (aliases); mail from them is never acknowledged.
    own_addresses: list[str] = Field(default_factory=list)
    ack_limit_per_sender_per_day: int = Field(default=3, ge=0)
    # All automatic acknowledgements in any hour; beyond it cases open without one and
    # Slack is told (issue 13: a forged-From storm must not make us a mail cannon).
    ack_limit_per_hour: int = Field(default=200, ge=0)
    # Instead of SMTP, write outgoing mail as .eml files here (demo, dry runs).
    mail_outbox_dir: Path | None = None

    # Classifier: a best score in [review_low, threshold) means "a human must look".
    classifier_threshold: float = Field(default=0.5, gt=0, lt=1)
    classifier_review_low: float = Field(default=0.2, ge=0, lt=1)
    # Classify in a second process, a batch ahead of deciding (classify/worker.py): a
    # backlog goes faster where a second core is free; costs a process start (~1.5 s of CPU).
    classifier_process: bool = False
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    # Address-space ceiling of `dsr-bot run` in MiB (RLIMIT_AS; 0 leaves it to the system).
    # The running bot maps about 1.3 GB (spaCy, threads); 4 GiB leaves the parser's budget
    # many times over, and a blow-up ends as MemoryError, not as an OOM kill (issue 13).
    memory_limit_mb: int = Field(default=4096, ge=0)

    # A failing send is retried (backoff capped at an hour) until it is this old; then it is
    # "dead": /readyz fails and `dsr-bot outbox retry` brings it back. Age, not attempt
    # count, so a weekend-long SMTP or Slack outage is ridden out.
    outbox_give_up_hours: float = Field(default=72.0, gt=0)
    # First retry delay after a failed send; doubles per attempt, capped at an hour.
    outbox_retry_initial: float = Field(default=30.0, ge=0)
    # Items claimed (leased) per drain pass. A drain runs passes until nothing due is left;
    # a smaller pass leaves fewer items leased, and so waiting out the lease, after a kill.
    outbox_batch: int = Field(default=500, ge=1)

    # Slack (issue: chat-ops). Socket Mode needs bot+app tokens; HTTP mode bot token+secret.
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_mode: Literal["socket", "http"] = "socket"
    # Slack HTTP mode: /slack/events is served by the one HTTP server, on DSR_BOT_HTTP_PORT;
    # this port is used only when DSR_BOT_HTTP_PORT is not set.
    slack_http_port: int = Field(default=3000, ge=1, le=65535)
    slack_channel: str | None = None
    # Slack user IDs (U…/W…) and/or user-group IDs (S…) allowed to approve replies.
    slack_approvers: list[str] = Field(default_factory=list)
    slack_api_url: str | None = None
    slack_excerpt: Literal["none", "excerpt", "full"] = "excerpt"
    four_eyes: bool = False

    # Scheduler (deadline reminders, digest, retention).
    reminder_offsets_days: list[int] = Field(default_factory=lambda: [7, 2, 0])
    deadline_sweep_minutes: int = Field(default=60, ge=1)
    digest_time: str = "08:00"
    retention_raw_months: int = Field(default=12, ge=1)
    retention_anonymise_months: int = Field(default=36, ge=1)
    # The text of each letter sent, kept as the record of what the controller told the
    # requester: 5 years after the case ended, the window IMY can look back on.
    retention_letter_months: int = Field(default=60, ge=1)
    # Also close Midsummer Eve, Christmas Eve and New Year's Eve (docs/deadlines.md).
    deadline_extra_closed_days: bool = False

    # Operations: health/readiness/metrics HTTP endpoint (off unless a port is given).
    http_port: int | None = Field(default=None, ge=1, le=65535)
    http_host: str = "127.0.0.1"
    # Fulfilment: TOML file listing the systems that hold personal data.
    data_sources: Path | None = None
    # Bearer token for the read-only /suppression.csv endpoint (off when unset).
    suppression_token: SecretStr | None = None

    controller: ControllerProfile | None = None
    controller_profile: Path | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["human", "json"] = "human"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (expected e.g. Europe/Stockholm)") from exc
        return v

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        if v.startswith("postgresql://"):
            v = "postgresql+psycopg://" + v.removeprefix("postgresql://")
        return v

    @field_validator("mail_from")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and ("@" not in v or any(c in v for c in "\r\n <>")):
            raise ValueError("expected a bare e-mail address such as privacy@example.com")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit overrides (init kwargs, e.g. the demo's own database) beat the
        # environment, which beats the TOML file.
        return (init_settings, env_settings, _TomlValues(settings_cls))

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def slack_http_mode(self) -> bool:
        return self.slack_enabled and self.slack_mode == "http"

    def http_listen_port(self) -> int | None:
        """The one HTTP server's port: `http_port`, or in Slack HTTP mode `slack_http_port`;
        None (no server) when neither applies."""
        if self.http_port is None:
            return self.slack_http_port if self.slack_http_mode else None
        if (
            self.slack_http_mode
            and "slack_http_port" in self.model_fields_set
            and self.slack_http_port != self.http_port
        ):
            raise ConfigError(
                f"{env_name('slack_http_port')}={self.slack_http_port} and "
                f"{env_name('http_port')}={self.http_port}: Slack events are served by the one "
                f"HTTP server at /slack/events on {env_name('http_port')}; unset "
                f"{env_name('slack_http_port')}"
            )
        return self.http_port

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def own_address_set(self) -> frozenset[str]:
        addrs = {a.lower() for a in self.own_addresses}
        if self.mail_from:
            addrs.add(self.mail_from.lower())
        if self.imap_user and "@" in self.imap_user:
            addrs.add(self.imap_user.lower())
        return frozenset(addrs)

    def require(self, *fields: str) -> None:
        """Stop with a clear line if a setting needed by the chosen command is missing."""
        for name in fields:
            if getattr(self, name) in (None, ""):
                raise ConfigError(f"{env_name(name)} is not set (required for this command)")

    def resolved_controller(self) -> ControllerProfile:
        if self.controller is not None:
            return self.controller
        if self.controller_profile is not None:
            return load_controller_profile(self.controller_profile)
        raise ConfigError(
            f"{env_name('controller_profile')} is not set and the config file has no "
            "[controller] table: replies must name the controller (Art. 13(1)(a))"
        )


_file_values: ContextVar[dict[str, Any] | None] = ContextVar("dsr_bot_file_values", default=None)


class _TomlValues(PydanticBaseSettingsSource):
    """The `--config` file's values, as the lowest-priority settings source."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_file_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_values.get() or {})


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """`[imap] host = …` → `imap_host`; `[controller]` stays a nested table."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "controller":
            for sub, subval in value.items():
                out[f"{key}_{sub}"] = subval
        else:
            out[key] = value
    return out


def load_controller_profile(path: Path) -> ControllerProfile:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{env_name('controller_profile')}: cannot read {path}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{env_name('controller_profile')}: {path} is not valid TOML: {exc}"
        ) from None
    data = data.get("controller", data)
    try:
        return ControllerProfile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, prefix="controller")) from None


def _describe(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    field = "_".join(([prefix] if prefix else []) + loc)
    name = env_name(field) if not prefix else f"[{prefix}] {'.'.join(loc)}"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    shown = ""
    # Secrets are never echoed; a database URL may carry a password, so it is not either.
    if not any(word in field for word in ("password", "secret", "token", "database_url")):
        raw = err.get("input")
        if isinstance(raw, str | int | float) and not isinstance(raw, bool):
            shown = f" (got {raw!r})"
    more = f"; and {len(exc.errors()) - 1} more problem(s)" if len(exc.errors()) > 1 else ""
    return f"{name}: {msg}{shown}{more}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the TOML file (if any), the environment, and explicit overrides."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = _flatten(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"--config: cannot read {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config: {config_file} is not valid TOML: {exc}") from None
    token = _file_values.set(file_values)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    finally:
        _file_values.reset(token)
    if settings.classifier_review_low >= settings.classifier_threshold:
        raise ConfigError(
            f"{env_name('classifier_review_low')} must be below {env_name('classifier_threshold')}"
        )
    return settings
