"""The light markup reply templates are written in, and its two renderings: text and HTML.

A template body is rendered ONCE by Jinja with autoescape on, so every value from a case
arrives entity-escaped (`<` as `&lt;`) and the template's own words arrive as written. From
that single string:

- the plain-text part is the string with entities decoded (`html.unescape`), so the text a
  requester reads is exactly what the HTML shows;
- the HTML part is built by this module: the template's own text is escaped once more where
  it is not already an entity, so neither a template author nor a value can write HTML. HTML
  is generated from structure, never written by hand.

The structure is deliberately small, so translators need no HTML:

- a blank line separates paragraphs; a single newline is a line break inside one;
- a line starting with `- ` is a bullet; consecutive bullets form one list, and an indented
  line continues the bullet above;
- a line starting with `# ` is a heading.
"""

from __future__ import annotations

import html
import re

_ENTITY_SAFE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});)")
_MANY_BLANKS = re.compile(r"\n{3,}")


def normalise(rendered: str) -> str:
    """Trim trailing spaces and collapse runs of blank lines left by template logic."""
    lines = [line.rstrip() for line in rendered.replace("\r\n", "\n").split("\n")]
    return _MANY_BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")


def _html_text(escaped: str) -> str:
    """Escape the template's own text; leave entities made by autoescape as they are."""
    return _ENTITY_SAFE_AMP.sub("&amp;", escaped).replace("<", "&lt;").replace(">", "&gt;")


def _blocks(source: str) -> list[list[str]]:
    return [b.split("\n") for b in re.split(r"\n\s*\n", source) if b.strip()]


def to_text(source: str) -> str:
    """The plain-text part: the markup itself reads well as text; headings lose their `#`."""
    out: list[str] = []
    for block in _blocks(source):
        lines = [line[2:] if line.startswith("# ") else line for line in block]
        out.append("\n".join(lines))
    return html.unescape("\n\n".join(out)) + "\n"


def _list_items(block: list[str]) -> list[str] | None:
    """The HTML of each bullet, or None when the block is not wholly a list."""
    items: list[list[str]] = []
    for line in block:
        if line.startswith("- "):
            items.append([line[2:].strip()])
        elif line.startswith((" ", "\t")) and items:
            items[-1].append(line.strip())
        else:
            return None
    return ["<br>".join(_html_text(part) for part in item) for item in items]


def to_html_body(source: str) -> str:
    """The inner HTML (paragraphs, lists, headings) for the same markup."""
    parts: list[str] = []
    for block in _blocks(source):
        if block[0].startswith("# "):
            parts.append(f"<h2>{_html_text(block[0][2:].strip())}</h2>")
            block = block[1:]
            if not block:
                continue
        items = _list_items(block)
        if items is not None:
            lis = "".join(f"<li>{item}</li>" for item in items)
            parts.append(f"<ul>{lis}</ul>")
        else:
            parts.append("<p>" + "<br>\n".join(_html_text(line) for line in block) + "</p>")
    return "\n".join(parts)


_STYLE = (
    "font-family: Arial, Helvetica, sans-serif; font-size: 15px; line-height: 1.5; "
    "color: #1a1a1a; max-width: 42em"
)


def to_html_document(source: str, *, subject: str, language: str) -> str:
    """A complete HTML document; `subject` and `language` are escaped here."""
    lang = html.escape(language, quote=True)
    title = html.escape(subject, quote=False)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n"
        f'<body style="{_STYLE}">\n{to_html_body(source)}\n</body>\n</html>\n'
    )


_BODY = re.compile(r"<body[^>]*>\n?(.*)\n?</body>", re.S)


def to_print_document(
    document: str,
    *,
    subject: str,
    language: str,
    sender: list[str],
    recipient: list[str],
    dated: str,
) -> str:
    """A letter to print and post (a request taken by phone or letter, no e-mail address):
    the mail's HTML body under a sender line and an address block placed for a C5/DL window
    envelope (SS 634 / DIN 5008 position, about 45 mm from the top, 20 mm from the left).
    Every value is escaped here; `document` is HTML this module made."""
    match = _BODY.search(document)
    body = match.group(1) if match else ""
    lang = html.escape(language, quote=True)

    def lines(values: list[str]) -> str:
        return "<br>".join(html.escape(v, quote=False) for v in values if v)

    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(subject, quote=False)}</title>\n<style>\n"
        "@page { size: A4; margin: 20mm 20mm 20mm 20mm; }\n"
        f"body {{ {_STYLE}; }}\n"
        ".sender { font-size: 11px; }\n"
        ".address { position: absolute; top: 25mm; left: 0; width: 85mm; }\n"
        ".dated { text-align: right; margin-top: 0; }\n"
        ".content { margin-top: 60mm; }\n"
        "</style>\n</head>\n<body>\n"
        f'<div class="sender">{lines(sender)}</div>\n'
        f'<div class="address">{lines(recipient)}</div>\n'
        f'<p class="dated">{html.escape(dated, quote=False)}</p>\n'
        f'<div class="content">\n<h1 style="font-size: 17px">'
        f"{html.escape(subject, quote=False)}</h1>\n{body}\n</div>\n</body>\n</html>\n"
    )
