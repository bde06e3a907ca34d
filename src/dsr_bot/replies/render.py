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
it. Norwegian (nb/nn/no) and Danish (da) fall back to Swedish, which their readers follow
more easily than most of them follow English, and the parent company is Norwegian; every
other language falls back to English.
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
from dsr_bot.config import ControllerProfile
from dsr_bot.replies.context import (
    SAMPLE_TYPE_SETS,
    RenderedReply,
    ReplyContext,
    missing_fields,
    sample_variants,
)
from dsr_bot.replies.markup import normalise, to_html_document, to_text

SCANDINAVIAN_TO_SWEDISH = frozenset({"nb", "nn", "no", "da"})
FALLBACK_LANGUAGE = "en"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

_MONTHS = {
    "sv": "januari februari mars april maj juni juli augusti september oktober november december",
    "en": "January February March April May June July August September October November December",
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
    return f"{day.day} {months[day.month - 1]} {day.year}"


def one_line(value: str) -> str:
    """Control characters and line breaks become single spaces (subjects, names)."""
    return " ".join(_CONTROL.sub(" ", value).split())


@pass_context
def _longdate_filter(context: Context, day: date) -> str:
    return long_date(day, context["template_language"])


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
        if lang in available:
            return lang
        if lang in SCANDINAVIAN_TO_SWEDISH and "sv" in available:
            return "sv"
        return FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in available else available[0]

    def render(self, name: str, ctx: ReplyContext) -> RenderedReply:
        missing = missing_fields(name, ctx)
        if missing:
            raise ValueError(f"reply {name!r} needs {', '.join(missing)} in the case context")
        lang = self.template_language(ctx.language)
        variables = self._variables(ctx, lang)
        try:
            template = self._env.get_template(f"{lang}/{name}.j2")
        except TemplateNotFound:
            raise ValueError(
                f"no reply template {lang}/{name}.j2 (known: {', '.join(self.names())})"
            ) from None
        common = self._env.get_template(f"{lang}/_common.j2").make_module(variables)
        context = template.new_context({**variables, "c": common})
        if not {"subject", "body"} <= template.blocks.keys():
            raise ValueError(f"{lang}/{name}.j2 must define blocks 'subject' and 'body'")
        subject = one_line(html.unescape("".join(template.blocks["subject"](context))))
        body = "".join(template.blocks["body"](context))
        source = normalise("\n\n".join([str(common.greeting()), body, str(common.signature())]))
        return RenderedReply(
            subject=subject,
            text=to_text(source),
            html=to_html_document(source, subject=subject, language=lang),
        )

    def _variables(self, ctx: ReplyContext, lang: str) -> dict[str, Any]:
        values = asdict(ctx)
        # Requester-supplied one-liners must not bring their own paragraphs or bullets.
        values["requester_name"] = one_line(ctx.requester_name) if ctx.requester_name else None
        values["original_subject"] = one_line(ctx.original_subject)
        values["types"] = tuple(str(t) for t in ctx.types)
        return {**values, "controller": self.controller, "template_language": lang}

    def check(self) -> list[str]:
        """Render every template × language × request-type set; return what is wrong."""
        problems: list[str] = []
        names = self.names()
        for lang in self.languages():
            if not (self.root / lang / "_common.j2").is_file():
                problems.append(f"{lang}/_common.j2: missing")
                continue
            for name in names:
                if not (self.root / lang / f"{name}.j2").is_file():
                    problems.append(f"{lang}/{name}.j2: missing translation")
                    continue
                for types in SAMPLE_TYPE_SETS:
                    for ctx in sample_variants(lang, types, name):
                        problems.extend(self._check_one(name, ctx))
        return list(dict.fromkeys(problems))

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
