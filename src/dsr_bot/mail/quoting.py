"""What the writer wrote now: HTML bodies to plain text, then quoted history and signatures off.

Classification must look only at the new words. A reply to our acknowledgement quotes the
acknowledgement, which is full of words like "radering" and "registerutdrag" and would make
every reply look like a fresh request. Clients mark history in their own ways:

* Gmail, Apple Mail, Thunderbird (plain text): an attribution line ("On … wrote:",
  "Den … skrev …:", "3 mars 2025 kl. 10:00 skrev …:") followed by ">"-prefixed lines;
* Outlook (sv/en/no/da): "-----Original Message-----" / "-----Ursprungligt meddelande-----",
  or an underscore rule and a "Från:/Skickat:/Till:/Ämne:" header block, with no ">" at all;
* HTML mail: <blockquote> (Gmail's "gmail_quote", Apple's type="cite"), which
  `html_to_text` turns into ">" lines so one set of rules covers both.

Signatures start at the RFC 3676 sect. 4.3 delimiter "-- " (many clients strip the trailing
space) or at a mobile footer ("Skickat från min iPhone").
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Python 3.11's HTMLParser is quadratic on some malformed input (e.g. "<a" repeated; fixed
# upstream as CVE-2025-6069): 200 kB of it took 84 s. `_defuse` makes the input linear and
# this cap bounds the rest; a mail with more HTML than this is not a hand-written request.
MAX_HTML_CHARS = 300_000

_SKIPPED = frozenset({"script", "style", "head", "title", "template"})
# Elements after which a reader sees a new line (HTML Living Standard, "block" rendering).
_BLOCKS = frozenset(
    {"address", "article", "blockquote", "center", "dd", "div", "dl", "dt", "footer", "form"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section"}
    | {"table", "tbody", "thead", "tr", "ul"}
)
_LONE_LT = re.compile(r"<(?![^<>]*>)")
_SPACES = re.compile(r"\s+")


def _defuse(html: str) -> str:
    """Remove comments and escape every "<" that cannot start a complete tag.

    Both steps are linear (str.find, and a lookahead that stops at the next "<"), and what
    remains gives HTMLParser no unterminated construct to rescan to the end of input.
    """
    out: list[str] = []
    pos = 0
    while (start := html.find("<!--", pos)) != -1:
        out.append(html[pos:start])
        end = html.find("-->", start + 4)
        if end == -1:  # HTML: an unclosed comment runs to the end of the document
            pos = len(html)
            break
        pos = end + 3
    out.append(html[pos:])
    return _LONE_LT.sub("&lt;", "".join(out))


class _TextCollector(HTMLParser):
    """Readable text: block elements break lines, <blockquote> becomes "> " prefixes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._quote_depth = 0
        self._skipping: list[str] = []
        self._pre = 0

    def _break(self, hard: bool = False) -> None:
        """End the line; an empty one only for <br> (blocks do not stack blank lines)."""
        text = "".join(self._line)
        text = text.rstrip() if self._pre else _SPACES.sub(" ", text).strip()
        self._line = []
        if text:
            self.lines.append("> " * self._quote_depth + text)
        elif hard or self._pre:
            self.lines.append("")

    def _paragraph_end(self) -> None:
        self._break()
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # a missing </head> must not swallow the whole message
            self._skipping = [t for t in self._skipping if t not in ("head", "title")]
        if tag in _SKIPPED:
            self._skipping.append(tag)
        elif tag == "br":
            self._break(hard=True)
        elif tag in _BLOCKS:
            self._break()
            if tag == "blockquote":
                self._quote_depth += 1
            elif tag == "pre":
                self._pre += 1
            elif tag == "li":
                self._line.append("- ")
        elif tag in ("td", "th"):
            self._line.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            if tag in self._skipping:
                del self._skipping[len(self._skipping) - 1 - self._skipping[::-1].index(tag)]
        elif tag == "p":
            self._paragraph_end()
        elif tag in _BLOCKS:
            self._break()
            if tag == "blockquote" and self._quote_depth:
                self._quote_depth -= 1
            elif tag == "pre" and self._pre:
                self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not self._pre:
            self._line.append(data)
            return
        first, *rest = data.split("\n")
        self._line.append(first)
        for piece in rest:
            self._break()
            self._line.append(piece)


def html_to_text(html: str) -> str:
    """Plain text of an HTML body; never raises (falls back to stripping tags)."""
    html = _defuse(html[:MAX_HTML_CHARS].replace("\r\n", "\n").replace("\r", "\n"))
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
        collector._break()
        lines = collector.lines
    except Exception:  # a parser bug must not lose the message
        lines = re.sub(r"<[^<>]*>", " ", html).split("\n")
    return _tidy(lines)


_SEPARATOR = re.compile(
    r"^\s*-{3,}\s*(original message|ursprungligt meddelande|originalmeddelande|"
    r"opprinnelig melding|oprindelig meddelelse|ursprüngliche nachricht|"
    r"forwarded message|vidarebefordrat meddelande|videresendt melding|"
    r"videresendt meddelelse)\s*-{3,}\s*$",
    re.IGNORECASE,
)
_FORWARD_INTRO = re.compile(
    r"^\s*(begin forwarded message|vidarebefordrat (brev|mejl|meddelande)|"
    r"videresendt (melding|meddelelse)|start på videresendt (melding|meddelelse))\s*:\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_FROM_LINE = re.compile(r"^\s*\**\s*(from|från|fra|von|de)\s*:", re.IGNORECASE)
_OTHER_HEADER = re.compile(
    r"^\s*\**\s*(sent|skickat|sendt|gesendet|date|datum|dato|to|till|til|an|"
    r"subject|ämne|emne|betreff|cc|kopia|kopi)\s*:",
    re.IGNORECASE,
)
# "On Mon, 3 Mar 2025 at 10:00, Anna <a@b> wrote:" (Gmail/Apple en), "Am … schrieb …:".
_ATTRIBUTION_EN = re.compile(r"^\s*(on|am|le|op)\s.*\b(wrote|schrieb|écrit|schreef)\s*:\s*$", re.I)
# "Den mån 3 mars 2025 kl 10:00 skrev Anna <a@b>:" (Gmail sv), "3 mars 2025 kl. 10:00 skrev
# …:" (Apple sv), "ons. 5. mar. 2025 kl. 10:00 skrev …:" (Gmail no), "kl. 10.00" (da).
# Once one pattern `^.*TIME\b.*\bskrev\b.*:\s*$`, which is cubic (20,000 characters: 1.6 s,
# issue 13); now: ends in ":", a last "skrev", a clock time before it. Each step is linear.
_SKREV = re.compile(r"\bskrev\b", re.I)
_CLOCK = re.compile(r"\d{1,2}[:.]\d{2}\b")


def _is_nordic_attribution(line: str) -> bool:
    if not line.rstrip().endswith(":"):
        return False
    last = None
    for last in _SKREV.finditer(line):  # noqa: B007 - the last match is wanted
        pass
    return last is not None and _CLOCK.search(line, 0, last.start()) is not None


_MOBILE_FOOTER = re.compile(
    r"^\s*(sent from my|skickat från min|sendt fra min|get outlook for|hämta outlook för|"
    r"få outlook for|skickat från outlook|sendt fra outlook)\b",
    re.IGNORECASE,
)
_MAX_ATTRIBUTION = 400


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_attribution(candidate: str) -> bool:
    if len(candidate) > _MAX_ATTRIBUTION or _is_quoted(candidate):
        return False
    return bool(_ATTRIBUTION_EN.match(candidate) or _is_nordic_attribution(candidate))


def _attribution_span(lines: list[str], i: int) -> int:
    """Lines (0, 1 or 2) taken by an attribution at i; Gmail wraps long ones onto two."""
    if _is_attribution(lines[i]):
        return 1
    if i + 1 < len(lines) and lines[i].strip() and _is_attribution(f"{lines[i]} {lines[i + 1]}"):
        return 2
    return 0


def _starts_history(lines: list[str], i: int) -> bool:
    """True where unquoted history (Outlook style, forwards) or the signature begins."""
    line = lines[i]
    if line.rstrip() == "--" or _SEPARATOR.match(line) or _FORWARD_INTRO.match(line):
        return True
    if _MOBILE_FOOTER.match(line) and len(line) < 80:
        return True
    following = lines[i + 1 : i + 7]
    if _RULE.match(line):
        return any(_FROM_LINE.match(f) for f in following[:3])
    # A lone "Från: Anna" in the writer's own text is not a header block: want two more.
    return (
        bool(_FROM_LINE.match(line)) and sum(bool(_OTHER_HEADER.match(f)) for f in following) >= 2
    )


def new_text(text: str) -> str:
    """The part of a plain-text body the writer wrote now (see module docstring).

    Empty when the writer added nothing of their own, e.g. a bare forward; callers that
    must classify something should then fall back to the whole text.
    """
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        if _starts_history(lines, i):
            break
        span = _attribution_span(lines, i)
        if span:
            j = i + span
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _is_quoted(lines[j]):
                i = j  # bottom-posting and interleaved replies: keep what follows the quote
                continue
            break  # attribution without ">" lines: everything after is history
        if not _is_quoted(lines[i]):
            kept.append(lines[i])
        i += 1
    return _tidy(kept)


def _tidy(lines: list[str]) -> str:
    """Strip trailing spaces, collapse runs of blank lines, trim blank edges."""
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
