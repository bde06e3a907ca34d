"""The writer's own words: what explicit-phrase rules may look at.

The mail parser already drops quoted history from `new_text`, but text reaches the classifier
from other paths too (`--jsonl`, stdin, the corpus), and a forwarded newsletter below the
writer's line survives any quote stripper. Newsletters end in "Avregistrera dig här" /
"Unsubscribe | Manage preferences"; rules that fire on those words turn every forwarded
newsletter into an opt-out under Art. 21(3). So, for the rules only (the statistical model
sees the whole mail and has learned what such footers look like):

* cut at the first reply/forward marker (">" quotes, "On … wrote:", "-----Original Message-----",
  Outlook "Från:/From:" header blocks, "Begin forwarded message"), unless nothing but the
  marker precedes it (a colleague forwarding a customer's mail with no comment: then the
  forwarded text *is* the request, minus its quote prefixes);
* drop footer lines: an unsubscribe word together with a footer cue ("click here", "if you no
  longer wish", "Hantera inställningar"), or a bare "Unsubscribe" line below the opening lines.
"""

from __future__ import annotations

import re

_MARKER = re.compile(
    r"^\s*(?:>|-{2,}\s*(?:original message|ursprungligt meddelande|opprinnelig melding|"
    r"oprindelig meddelelse|forwarded message|vidarebefordrat meddelande|videresendt melding|"
    r"videresendt meddelelse)|_{8,}|begin forwarded message|början av vidarebefordrat|"
    r"(?:from|från|fra|von):\s.*[@<]|(?:on|den|på|am)\s.{4,200}(?:wrote|skrev|schrieb)"
    r".{0,120}:\s*$|.{0,80}\s(?:wrote|skrev):\s*$)",
    re.IGNORECASE,
)
_UNSUBSCRIBE = re.compile(
    r"unsubscri|avregistrer|avanmäl|avsluta prenumeration|opt out|opt-out|meld (?:deg|dig) av|"
    r"afmeld|avmeld|stopp(?:a)? utskick|stop receiving|no longer (?:wish|want) to receive|"
    r"inte (?:längre )?vill (?:ha|få)|ønsker (?:du )?ikke (?:å )?motta",
    re.IGNORECASE,
)
_FOOTER_CUE = re.compile(
    r"click|klicka|klikk|klik|here\b|här\b|her\b|link|länk|lenke|preference|inställning|"
    r"innstilling|indstilling|manage|hantera|you (?:are )?receiv|du (?:får|mottar|modtager)|"
    r"if you (?:no longer|don't|do not)|om du inte|vill du inte|ønsker du ikke|vil du ikke|"
    r"don't want these|to stop receiving|svara stopp|reply stop|\|",
    re.IGNORECASE,
)
# Footers speak to "you"; a writer's line that says "the unsubscribe link doesn't work, remove
# me" speaks of themselves and is a request, whatever link words it contains.
# Capital "I" only: lower-case "i" is the Scandinavian "in" that every footer contains.
_FIRST_PERSON = re.compile(r"\bI\b|\b(?i:me|my|jag|mig|mej|min|mitt|mina|jeg|meg|mit|mine)\b")
_WORD = re.compile(r"\w")
# A reply "unsubscribe" is at the top; the same word alone far below is a footer link's text.
_OPENING_LINES = 3


def _strip_quote_prefix(line: str) -> str:
    return line.lstrip("> ").rstrip() if line.lstrip().startswith(">") else line


def _cut_history(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _MARKER.match(line):
            head = lines[:index]
            if any(_WORD.search(h) for h in head):
                return head
            # Nothing above the marker: a bare forward. Keep the forwarded text itself.
            return [_strip_quote_prefix(x) for x in lines[index + 1 :]]
    return lines


def _is_footer(line: str, position: int) -> bool:
    if not _UNSUBSCRIBE.search(line):
        return False
    if _FIRST_PERSON.search(line):
        return False
    if _FOOTER_CUE.search(line):
        return True
    bare = len(line.split()) <= 3
    return bare and position >= _OPENING_LINES


def own_words(text: str) -> str:
    """`text` without quoted/forwarded history and newsletter footers."""
    lines = _cut_history((text or "").splitlines())
    kept: list[str] = []
    position = 0
    for line in lines:
        if not line.strip():
            continue
        if not _is_footer(line, position):
            kept.append(line)
        position += 1
    return "\n".join(kept)
