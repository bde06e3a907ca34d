"""Render the reviewed reply templates in `templates/<lang>/` for one case.

Layout of the library (see `markup.py` for the body syntax):

- `templates/<lang>/_common.j2`: macros `greeting()` and `signature()`, which the renderer
  puts around every body, and the per-language names of request types (`type_names`,
  `type_articles`). The controller's facts reach templates only as `controller`
  (`dsr_bot.config.ControllerProfile`), never as literals.
- `templates/<lang>/<name>.j2`: one reply; block `subject` (one line, must name `ref`) and
  block `body`. A name exists in every language or `check()` reports a missing translation.

Jinja runs sandboxed with autoescape and `StrictUndefined`: a misspelt variable is an error
at render time (and in `check()`), not a blank in a letter to a data subject.

Language choice: a reply is written in the requester's language when we have templates for
it: Swedish, English, Norwegian bokmål (also for nn/no) and Danish. Every other language gets
English.

Controller free text (`controller.retention`, `.purposes`, …) is given per language in the
profile; templates read it through the `local` filter, which picks the letter's language, so
an English letter never prints the Swedish text.

A case with several rights gets one letter: the name `access_response+erasure_confirmation`
renders each part's body in turn under the part's heading (`part_titles` in `_common.j2`), so
no right goes unanswered.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import asdict
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

import dsr_bot
from dsr_bot.cases.model import ALL_REQUEST_TYPES
from dsr_bot.cases.replying import parts, reply_name
from dsr_bot.config import ControllerProfile
from dsr_bot.replies.context import (
    SAMPLE_TYPE_SETS,
    RenderedReply,
    ReplyContext,
    missing_fields,
    sample_variants,
)
from dsr_bot.replies.markup import normalise, to_html_document, to_text

# Nynorsk and the generic "no" get bokmål letters: the same authority, readable to all.
LANGUAGE_ALIASES = {"nn": "nb", "no": "nb"}
FALLBACK_LANGUAGE = "en"
LETTER_LANGUAGES = ("sv", "en", "nb", "da")
LOCALISED_FIELDS = frozenset(
    {
        "recipients",
        "processors",
        "transfer_safeguards",
        "purposes",
        "categories",
        "sources",
        "retention",
        "supervisory_authority",
    }
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

_MONTHS = {
    "sv": "januari februari mars april maj juni juli augusti september oktober november december",
    "en": "January February March April May June July August September October November December",
    "nb": "januar februar mars april mai juni juli august september oktober november desember",
    "da": "januar februar marts april maj juni juli august september oktober november december",
}


def templates_dir() -> Path:
    """`dsr_bot/_templates` in an installed wheel, else the checkout's `templates/`."""
    package = Path(dsr_bot.__file__).resolve().parent
    installed = package / "_templates"
    if installed.is_dir():
        return installed
    checkout = package.parent.parent / "templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"no reply templates: neither {installed} nor {checkout} exists")


def example_controller() -> ControllerProfile:
    """The shipped example profile (Micromedic AB), used by the demo and previews."""
    raw = resources.files("dsr_bot.replies").joinpath("example_controller.toml").read_text("utf-8")
    return ControllerProfile.model_validate(tomllib.loads(raw)["controller"])


def long_date(day: date, language: str) -> str:
    """`2 april 2026` / `2 April 2026`: unambiguous in a letter, unlike 02/04/2026."""
    months = _MONTHS.get(language, _MONTHS["en"]).split()
    if language in ("nb", "da"):
        return f"{day.day}. {months[day.month - 1]} {day.year}"  # "2. april 2026"
    return f"{day.day} {months[day.month - 1]} {day.year}"


def one_line(value: str) -> str:
    """Control characters and line breaks become single spaces (subjects, names)."""
    return " ".join(_CONTROL.sub(" ", value).split())


@pass_context
def _longdate_filter(context: Context, day: date) -> str:
    return long_date(day, context["template_language"])


class MissingTranslation(ValueError):
    """A controller free-text field has no text in the letter's language."""


def local_value(value: Any, language: str) -> Any:
    """A profile value in `language`: per-language tables pick theirs; a plain value is the
    same in every language (see `ReplyRenderer.profile_problems`)."""
    if isinstance(value, dict):
        if not value:
            return []  # an empty table: nothing listed
        if language not in value:
            raise MissingTranslation(
                f"the controller profile has no {language!r} text (only {sorted(value)})"
            )
        return value[language]
    return value


@pass_context
def _local_filter(context: Context, value: Any) -> Any:
    return local_value(value, context["template_language"])


class ReplyRenderer:
    """Turns (template name, case context) into a `RenderedReply` in the case's language."""

    def __init__(self, controller: ControllerProfile, templates_dir: Path | None = None) -> None:
        self.controller = controller
        self.root = Path(templates_dir) if templates_dir is not None else _default_dir()
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(self.root),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Compiled once per process: templates are reviewed files shipped with a release,
            # and a stat() per letter showed in the intake profile.
            auto_reload=False,
        )
        self._env.filters["longdate"] = _longdate_filter
        self._env.filters["local"] = _local_filter
        self._languages: list[str] | None = None

    def languages(self) -> list[str]:
        """Read from disk once: it used to be listed again for every letter."""
        if self._languages is None:
            self._languages = sorted(
                p.name for p in self.root.iterdir() if p.is_dir() and any(p.glob("*.j2"))
            )
        return list(self._languages)

    def names(self) -> list[str]:
        """Every reply name found in any language (so a missing translation shows)."""
        return sorted({p.stem for p in self.root.glob("*/*.j2") if not p.name.startswith("_")})

    def template_language(self, language: str) -> str:
        """The template language used for a requester's language (see module docstring)."""
        available = self.languages()
        lang = language.lower().replace("_", "-").split("-")[0]
        lang = LANGUAGE_ALIASES.get(lang, lang)
        if lang in available:
            return lang
        return FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in available else available[0]

    def render(self, name: str, ctx: ReplyContext) -> RenderedReply:
        missing = missing_fields(name, ctx)
        if missing:
            raise ValueError(f"reply {name!r} needs {', '.join(missing)} in the case context")
        lang = self.template_language(ctx.language)
        self._check_profile(name, ctx, lang)
        variables = self._variables(ctx, lang)
        templates = []
        for part in parts(name):
            try:
                template = self._env.get_template(f"{lang}/{part}.j2")
            except TemplateNotFound:
                raise ValueError(
                    f"no reply template {lang}/{part}.j2 (known: {', '.join(self.names())})"
                ) from None
            if not {"subject", "body"} <= template.blocks.keys():
                raise ValueError(f"{lang}/{part}.j2 must define blocks 'subject' and 'body'")
            templates.append((part, template))
        common = self._env.get_template(f"{lang}/_common.j2").make_module(variables)
        bodies = []
        for part, template in templates:
            context = template.new_context({**variables, "c": common})
            body = "".join(template.blocks["body"](context))
            if len(templates) > 1:
                body = f"# {common.part_titles[part]}\n\n{body}"
            bodies.append(body)
        if len(templates) == 1:
            context = templates[0][1].new_context({**variables, "c": common})
            raw_subject = "".join(templates[0][1].blocks["subject"](context))
        else:
            raw_subject = str(common.combined_subject())
        subject = one_line(html.unescape(raw_subject))
        source = normalise("\n\n".join([str(common.greeting()), *bodies, str(common.signature())]))
        return RenderedReply(
            subject=subject,
            text=to_text(source),
            html=to_html_document(source, subject=subject, language=lang),
        )

    def _check_profile(self, name: str, ctx: ReplyContext, lang: str) -> None:
        """Art. 15(1)(a), (b), (g) and 15(2) must be stated: from fulfilment, else from the
        profile; a letter with an empty heading is refused, not sent."""
        if "access_response" not in parts(name) or ctx.no_data:
            return
        profile = self.controller
        if profile.transfers_outside_eea is None:
            raise ValueError(
                "the controller profile does not say whether data leaves the EU/EEA "
                "(transfers_outside_eea, Art. 15(2))"
            )
        for field in ("purposes", "categories", "sources"):
            if not getattr(ctx, field) and not local_value(getattr(profile, field), lang):
                raise ValueError(
                    f"reply {name!r} needs {field}: from the data source or the controller profile"
                )

    def _variables(self, ctx: ReplyContext, lang: str) -> dict[str, Any]:
        values = asdict(ctx)
        # Requester-supplied one-liners must not bring their own paragraphs or bullets.
        values["requester_name"] = one_line(ctx.requester_name) if ctx.requester_name else None
        values["original_subject"] = one_line(ctx.original_subject)
        values["types"] = tuple(str(t) for t in ctx.types)
        return {**values, "controller": self.controller, "template_language": lang}

    def check(self) -> list[str]:
        """Render every template × language × request-type set, and the combined letter of
        every pair of rights; return what is wrong."""
        problems: list[str] = self.profile_problems()
        names = self.names()
        languages = self.languages()
        for lang in LETTER_LANGUAGES:
            if lang not in languages:
                problems.append(f"{lang}/: no templates for a letter language")
        for lang in languages:
            if not (self.root / lang / "_common.j2").is_file():
                problems.append(f"{lang}/_common.j2: missing")
                continue
            for name in names:
                if not (self.root / lang / f"{name}.j2").is_file():
                    problems.append(f"{lang}/{name}.j2: missing translation")
                    continue
                for types in SAMPLE_TYPE_SETS[: len(ALL_REQUEST_TYPES) + 2]:
                    for ctx in sample_variants(lang, types, name):
                        problems.extend(self._check_one(name, ctx))
            for types in SAMPLE_TYPE_SETS:
                combined = reply_name(types)
                if all((self.root / lang / f"{p}.j2").is_file() for p in parts(combined)):
                    for ctx in sample_variants(lang, types, combined):
                        problems.extend(self._check_one(combined, ctx))
        return list(dict.fromkeys(problems))

    def profile_problems(self) -> list[str]:
        """Controller free text that is missing a letter language, or is one text for all."""
        found: list[str] = []
        for field, value in self.controller:
            if field not in LOCALISED_FIELDS or not value:
                continue
            if not isinstance(value, dict):
                found.append(
                    f"controller.{field}: one text for every language; give one per language "
                    f"({', '.join(LETTER_LANGUAGES)})"
                )
                continue
            for lang in LETTER_LANGUAGES:
                if lang not in value:
                    found.append(f"controller.{field}: no {lang!r} text")
        if self.controller.transfers_outside_eea is None:
            found.append(
                "controller.transfers_outside_eea: not set; the access letter must say whether "
                "data leaves the EU/EEA (Art. 15(2))"
            )
        return found

    def _check_one(self, name: str, ctx: ReplyContext) -> list[str]:
        where = f"{ctx.language}/{name}.j2"
        try:
            reply = self.render(name, ctx)
        except (TemplateError, ValueError, TypeError, KeyError) as exc:
            return [f"{where}: {type(exc).__name__}: {exc}"]
        found: list[str] = []
        if ctx.ref not in reply.subject:
            found.append(f"{where}: subject does not name the case reference")
        if ctx.ref not in reply.text:
            found.append(f"{where}: body does not name the case reference")
        if self.controller.name not in reply.text:
            found.append(f"{where}: body does not name the controller")
        for part, value in (("text", reply.text), ("html", reply.html)):
            if not value.strip():
                found.append(f"{where}: empty {part}")
            if re.search(r"\{\{|\}\}|\{%|%\}|\bNone\b|\(\)", value):
                found.append(f"{where}: template syntax, None or () left in the {part}")
        return found


def _default_dir() -> Path:
    return templates_dir()
