"""Where personal data lives: the data-source file (`DSR_BOT_DATA_SOURCES`, TOML).

Each system is either `kind = "sql"`, which dsr-bot searches and erases itself, or
`kind = "manual"`, which becomes a checklist item staff tick off (a CRM at the parent
company, a newsletter tool). Art. 19 recipients, to whom erasure, rectification and
restriction must be communicated, are marked `recipient = true`.

The model is independent of `Settings` so the file can be checked, tested and documented
on its own; `deploy/data-sources.example.toml` is the commented example.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from dsr_bot.cases.model import RequestType


class DataSourceError(Exception):
    """The data-source file or a system in it is wrong; `str()` is meant for the operator."""


class ErasureAction(StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    # Art. 17(3)(b): erasure does not apply where a legal obligation requires keeping data.
    KEEP = "keep"


class PersonLink(BaseModel):
    """Rows that name the person only through a key, e.g. `orders.customer_id`."""

    model_config = {"extra": "forbid"}

    column: str
    # "customers.id": a table of the same source that is matched by e-mail or phone.
    references: str = Field(pattern=r"^[^.]+\.[^.]+$")

    @property
    def table(self) -> str:
        return self.references.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.references.split(".", 1)[1]


ScalarValue = str | int | float | bool
# Text that reaches a letter: one string, or one per letter language.
LocalText = str | dict[str, str]
LocalList = list[str] | dict[str, list[str]]


def text_in(value: Any, language: str) -> str:
    """`value` in `language`; a plain string is the same in every language. A table without
    the language falls back to English, then to its first text: a letter is not refused
    for a label, but `templates`-style completeness is the operator's to keep."""
    if isinstance(value, dict):
        return str(value.get(language) or value.get("en") or next(iter(value.values()), ""))
    return str(value or "")


def list_in(value: Any, language: str) -> list[str]:
    if isinstance(value, dict):
        return list(value.get(language) or value.get("en") or next(iter(value.values()), []))
    return list(value or [])


class TableMapping(BaseModel):
    """One table: how to recognise the person's rows and what erasure does to them."""

    model_config = {"extra": "forbid"}

    name: str
    # Shown to staff and in replies ("Kontaktuppgifter", "Fakturor"); one text, or one per
    # letter language ({sv = "Fakturor", en = "Invoices"}) so an English letter says it in
    # English (see `text_in`).
    description: LocalText = ""
    email_columns: list[str] = Field(default_factory=list)
    phone_columns: list[str] = Field(default_factory=list)
    # Shown in previews so staff can spot a wrong match; never used to match (namesakes).
    name_columns: list[str] = Field(default_factory=list)
    person_via: PersonLink | None = None
    # Art. 20(1): portability covers only data the person provided to us.
    provided_by_subject: bool = False
    erasure: ErasureAction
    # anonymise: columns set to NULL, and columns set to a fixed value.
    set_null: list[str] = Field(default_factory=list)
    set_values: dict[str, ScalarValue] = Field(default_factory=dict)
    # The legal ground for keeping, worded as the law words it, e.g. "räkenskapsinformation
    # ska bevaras till och med det sjunde året … (bokföringslagen (1999:1078) 7 kap. 2 §)".
    keep_reason: LocalText = ""
    # Art. 6(1)(a): the rows are processed on the person's consent. Withdrawing it (Art.
    # 7(3)) erases them, as the policy promises ("Vid återkallelse kommer vi att radera de
    # personuppgifter … som omfattas av samtycket"), even without an erasure request.
    consent: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> TableMapping:
        matched_by = bool(self.email_columns or self.phone_columns)
        if matched_by == (self.person_via is not None):
            raise ValueError(
                "give email_columns/phone_columns, or person_via, so the person's rows are "
                "found one way"
            )
        reasons = (
            self.keep_reason.values() if isinstance(self.keep_reason, dict) else [self.keep_reason]
        )
        if self.erasure is ErasureAction.KEEP and not all(r.strip() for r in reasons or [""]):
            raise ValueError(
                "erasure = 'keep' needs keep_reason: the legal ground the reply will state "
                "(Art. 17(3))"
            )
        anonymised = bool(self.set_null or self.set_values)
        if (self.erasure is ErasureAction.ANONYMISE) != anonymised:
            raise ValueError(
                "set_null/set_values belong with erasure = 'anonymise', which needs at least one"
            )
        if self.erasure is ErasureAction.ANONYMISE:
            identifying = {*self.email_columns, *self.phone_columns, *self.name_columns}
            left = identifying - {*self.set_null, *self.set_values}
            if left:
                raise ValueError(
                    f"anonymise leaves identifying column(s) {sorted(left)} as they were"
                )
        return self

    def columns_named(self) -> set[str]:
        cols = {*self.email_columns, *self.phone_columns, *self.name_columns}
        cols |= {*self.set_null, *self.set_values}
        if self.person_via:
            cols.add(self.person_via.column)
        return cols


class SqlSource(BaseModel):
    """A database reachable with SQLAlchemy, searched and erased by `SqlConnector`."""

    model_config = {"extra": "forbid"}

    kind: Literal["sql"]
    name: str
    # The URL, or the name of an environment variable holding it (keeps passwords out).
    url: str = ""
    url_env: str = ""
    schema_name: str | None = Field(default=None, alias="schema")
    # Art. 15(1)(a), (b), (g) facts about this system, for the access reply.
    purposes: LocalList = Field(default_factory=list)
    categories: LocalList = Field(default_factory=list)
    origin: LocalText = ""
    recipient: bool = False
    tables: list[TableMapping] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SqlSource:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url and url_env")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError("a table is listed twice")
        for table in self.tables:
            link = table.person_via
            if link is None:
                continue
            target = next((t for t in self.tables if t.name == link.table), None)
            if target is None or target.person_via is not None:
                raise ValueError(
                    f"{table.name}.person_via must reference a table of this source that is "
                    "matched by e-mail or phone"
                )
        return self

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        value = os.environ.get(self.url_env, "")
        if not value:
            raise DataSourceError(f"{self.name}: environment variable {self.url_env} is not set")
        return value


class ManualSource(BaseModel):
    """A system without a connector: staff do it by hand and tick it off in Slack."""

    model_config = {"extra": "forbid"}

    kind: Literal["manual"]
    name: str
    # What to do there, for the person ticking it off ("Sök på e-post i CRM:et och …").
    instructions: str = ""
    # Art. 19: the data was disclosed to this recipient, who must be told of corrections.
    recipient: bool = False
    applies_to: list[RequestType] = Field(default_factory=lambda: list(RequestType))


DataSource = Annotated[SqlSource | ManualSource, Field(discriminator="kind")]


class DataSources(BaseModel):
    model_config = {"extra": "forbid"}

    # ITU-T E.164 country code for numbers written nationally (08-…); 46 is Sweden.
    phone_country_code: str = Field(default="46", pattern=r"^[1-9][0-9]{0,2}$")
    sources: list[DataSource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> DataSources:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("two sources have the same name")
        return self

    @property
    def sql(self) -> list[SqlSource]:
        return [s for s in self.sources if isinstance(s, SqlSource)]

    @property
    def manual(self) -> list[ManualSource]:
        return [s for s in self.sources if isinstance(s, ManualSource)]


def load_data_sources(path: Path) -> DataSources:
    """Read and validate the file; errors name the file and the offending entry."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataSourceError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataSourceError(f"{path} is not valid TOML: {exc}") from None
    try:
        return DataSources.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        raise DataSourceError(f"{path}: {where}: {msg}") from None
