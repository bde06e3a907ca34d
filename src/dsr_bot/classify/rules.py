"""Phrases that name a right outright, in Swedish, English, Norwegian and Danish.

Two uses: the fallback classifier when no trained model ships (so intake works from day one),
and evidence combined with the statistical model for explicit wording the corpus may not
cover ("enligt artikel 15", "avregistrera mig", "unsubscribe"). Patterns run on lower-cased
text and are deliberately about the writer's own request ("radera mina uppgifter"), not about
GDPR in general, because vendor pitches and newsletters talk about GDPR all the time.
"""

from __future__ import annotations

import re

from dsr_bot.cases.model import RequestType

_ART = r"(?:art(?:ikel|icle|\.)?|artikkel)\s*"
_ME = r"(?:mig|mej|me|meg|my|mina|mine|mitt|min|mit)"
_DATA = (
    r"(?:personuppgifter\w*|uppgifter\w*|data|personal data|information|info|"
    r"personopplysning\w*|opplysning\w*|personoplysning\w*|oplysning\w*|konto\w*|account)"
)


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts))


# Each right: patterns that by themselves make a request of that type.
PATTERNS: dict[RequestType, re.Pattern[str]] = {
    RequestType.ACCESS: _rx(
        _ART + r"15\b",
        r"registerutdrag",
        r"\b(?:subject )?access request\b",
        r"\bdsar\b",
        r"\bsar\b",
        r"vilka (?:person)?uppgifter (?:ni|du|företaget) (?:har|behandlar|lagrar|sparar)",
        r"vad (?:har ni|ni har) (?:för uppgifter|sparat|lagrat)",
        r"\bcopy of (?:all )?(?:the )?(?:my )?(?:personal )?(?:data|information)\b",
        r"what (?:personal )?(?:data|information) (?:do )?you (?:hold|have|store|keep|process)",
        r"\binnsyn\b",
        r"\bindsigt\b",
        r"\bkopia (?:på|av) (?:alla )?(?:mina )?(?:person)?uppgifter",
    ),
    RequestType.ERASURE: _rx(
        _ART + r"17\b",
        r"\bradera\w* (?:alla )?" + _ME + r"?\s*" + _DATA,
        r"\bradera\w* (?:mig|mej|allt om mig)",
        r"\bta bort (?:alla )?" + _ME + r"\s*(?:" + _DATA + r")?",
        r"\bglömd\w*\b",
        r"right to (?:be forgotten|erasure)",
        r"\b(?:delete|erase|remove) (?:all )?(?:of )?(?:my|me\b)",
        r"\bslett\w* (?:alle )?" + _ME,
        r"\bslet (?:alle )?" + _ME,
        r"\b(?:deletion|erasure) request\b",
    ),
    RequestType.RECTIFICATION: _rx(
        _ART + r"16\b",
        r"\brättelse\b",
        r"\brätta\w* (?:mitt|min|mina|uppgift)",
        r"\b(?:felaktig|fel) (?:adress|namn|uppgift|telefonnummer|personnummer)",
        r"\bkorriger\w*",
        r"\brectif\w*",
        r"\b(?:correct|update|change) (?:my|the) (?:name|address|email|phone|details|data)",
        r"\b(?:incorrect|wrong|inaccurate|outdated) (?:name|address|data|information|details)",
        r"\bretting\b",
        r"\bberigtig\w*",
    ),
    RequestType.RESTRICTION: _rx(
        _ART + r"18\b",
        r"\bbegränsning av (?:behandling|behandlingen)",
        r"\bbegränsa (?:behandlingen|er behandling)",
        r"\brestrict(?:ion of)? (?:the )?processing",
        r"\bbegrensning av behandling",
        r"\bbegrænsning af behandling",
        r"\bfrys\w* (?:mina|mitt|behandling)",
    ),
    RequestType.PORTABILITY: _rx(
        _ART + r"20\b",
        r"\bdataportabilitet\w*",
        r"\bportab\w*",
        r"maskinläsbar\w*",
        r"machine[- ]readable",
        r"\b(?:json|csv)\b",
        r"\bflytt\w* (?:mina|min) (?:data|uppgifter)",
        r"\btransfer (?:my|the) data\b",
    ),
    RequestType.OBJECTION: _rx(
        _ART + r"21\s*(?:\(1\)|1\b|punkt 1)",
        r"\binvänd\w* mot\b",
        r"\bobject(?:ion)? to\b",
        r"\bmotsätter mig\b",
        r"\bprofilering\w*",
        r"\bprofiling\b",
        r"berättigat intresse",
        r"legitimate interest",
        r"\bprotest\w* mot\b",
        r"\bgør indsigelse\b",
        r"\bprotestere\w*",
    ),
    RequestType.MARKETING_OPTOUT: _rx(
        _ART + r"21\s*(?:\(2\)|\(3\)|2\b|3\b)",
        r"\bavregistrer\w*",
        r"\bavanmäl\w*",
        r"\bunsubscribe\w*",
        r"\bopt[- ]?out\b",
        r"\b(?:sluta|slutar) (?:skicka|ringa|maila|mejla)",
        r"\binte (?:längre )?(?:få|ha|ta emot) (?:några |fler )?"
        r"(?:nyhetsbrev|utskick|reklam|erbjudanden|mejl|mail|sms)",
        r"\bstop (?:sending|emailing|calling|contacting)",
        r"\bno (?:more )?(?:marketing|newsletters|sales calls|promotional)",
        r"\bremove me from (?:your|the) (?:mailing|email|marketing|newsletter)",
        r"\bspärr\w* (?:mot )?(?:direkt)?(?:marknadsföring|reklam)",
        r"\bmeld\w* (?:meg|mig) (?:av|ud|fra)",
        r"\bnix\b",
        r"\bdirektmarknadsföring\b",
        r"\bdirect marketing\b",
    ),
    RequestType.CONSENT_WITHDRAWAL: _rx(
        _ART + r"7\s*(?:\(3\)|\.3|3\b)",
        r"\båterkall\w* (?:mitt |mina |mit |min )?(?:samtycke|samtycken)",
        r"\b(?:drar tillbaka|tar tillbaka) (?:mitt )?samtycke",
        r"\bsamtycke\w* (?:återkallas|dras tillbaka)",
        r"\bwithdraw\w* (?:my |all )?consent",
        r"\brevoke (?:my )?consent",
        r"\btrekk\w* (?:tilbake )?(?:mitt )?samtykke",
        r"\btilbakekall\w* (?:mitt )?samtykke",
        r"\btrække\w* (?:mit )?samtykke",
        r"\bno longer consent\b",
    ),
}

# Machine-written mail that quotes our own words back; rules must not fire on it.
_NOT_A_REQUEST = re.compile(
    r"(?:out of (?:the )?office|automatic reply|auto-?reply|autosvar|automatiskt svar|"
    r"frånvaromeddelande|fraværsmelding|fraværsbesked|delivery status notification|"
    r"undeliverable|mailer-daemon|delivery has failed|returned mail|kunde inte levereras)"
)


def rule_hits(subject: str, text: str) -> set[RequestType]:
    """The rights named outright in the message; empty for auto-replies and bounces."""
    lowered = f"{subject}\n{text}".lower()
    if _NOT_A_REQUEST.search(lowered):
        return set()
    return {label for label, pattern in PATTERNS.items() if pattern.search(lowered)}
