"""Which of Swedish, English, Norwegian (bokmål) or Danish a message is written in.

The answer picks the reply template (`templates/<lang>/`), so it has to work offline, at once,
on one-line mobile mails. Hand-written profiles are enough for four languages: function words
that are frequent and, for the Scandinavian three, the spellings that tell them apart
(sv "och/inte/jag", nb "ikke/hva/dere/takk", da "ikke/hvad/jer/tak/af"). Letters settle the
rest: ä/ö are Swedish only, æ/ø Norwegian or Danish only.
"""

from __future__ import annotations

import re
from collections import Counter

LANGUAGES: tuple[str, ...] = ("sv", "en", "nb", "da")

# Frequent words per language. A word listed under several languages counts for each of them
# at a weight of 1/(number of languages), so shared words ("for", "vi", "har") barely matter
# and the distinctive ones decide.


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


_PROFILES: dict[str, frozenset[str]] = {
    "sv": _words(
        """och att jag inte är det som för med på av till mina min mitt mig dig ni er ert era
        vill har kan tack hej vänliga hälsningar radera också från eller om vad när hur måste
        skulle kommer nu här där bara någon något några inga inget över efter utan sig hon
        vi dem deras man ska skall också alla eftersom själv uppgifter personuppgifter
        därför sedan inom mot vara varit blir blev även hos samt mvh ert bör begär begäran
        avregistrera sluta skicka ingen kund tacksam snälla vänligen mejl mail nej ja i"""
    ),
    "en": _words(
        """the and to of i you my your is are please data personal delete with for this that
        have not be it in on from or if what when how must would will now here there only
        any some no me we they their can could should want do does did hi hello dear
        regards thanks thank kind best sincerely information request about all also been
        has was were an a by as at so stop sending emails unsubscribe remove"""
    ),
    "nb": _words(
        """og ikke jeg er det som for med på av til mine min mitt meg deg dere deres vil har
        kan takk hei vennlig hilsen slette også fra eller om hva når hvordan må skulle kommer
        nå her der bare noen noe ingen etter uten seg hun vi dem skal alle fordi selv
        opplysninger personopplysninger ønsker blir ble være vært mvh mye hvis ønsker
        innsyn sletting samtykke henvendelse vennligst kunde i"""
    ),
    "da": _words(
        """og ikke jeg er det som for med på af til mine min mit mig dig jer jeres vil har kan
        tak hej venlig hilsen slette også fra eller om hvad hvornår hvordan skal kommer nu
        her der kun nogen noget ingen efter uden sig hun vi dem alle fordi selv oplysninger
        personoplysninger ønsker bliver blev være været mvh meget hvis gerne venligst
        indsigt sletning samtykke henvendelse kunde i have"""
    ),
}

SAMPLE_CHARS = 2000
_WORD_RE = re.compile(r"[a-zåäöæøéü]+")

# Letters and spellings no other language in the set uses; weights are per occurrence.
_LETTER_HINTS: tuple[tuple[re.Pattern[str], dict[str, float]], ...] = (
    (re.compile(r"[äö]"), {"sv": 1.0}),
    (re.compile(r"[æø]"), {"nb": 0.6, "da": 0.6}),
    (re.compile(r"(?<=\w)sjon(?:en|er|ene)?\b"), {"nb": 1.0}),
    (re.compile(r"(?<=\w)tion(?:en|er|erne)?\b"), {"da": 0.4, "sv": 0.2, "en": 0.2}),
    (re.compile(r"(?<=\w)(?:skj|kj|gj)"), {"nb": 0.5}),
    (re.compile(r"(?<=\w)ning(?:en|er|erne)\b"), {"da": 0.5}),
)

_WEIGHTS: dict[str, dict[str, float]] = {}


def _word_weights() -> dict[str, dict[str, float]]:
    if not _WEIGHTS:
        owners: dict[str, list[str]] = {}
        for lang, words in _PROFILES.items():
            for word in words:
                owners.setdefault(word, []).append(lang)
        for word, langs in owners.items():
            _WEIGHTS[word] = {lang: 1.0 / len(langs) for lang in langs}
    return _WEIGHTS


def language_scores(text: str) -> dict[str, float]:
    """Raw evidence per language; exposed for tests and for the evaluation report."""
    # The opening of a mail says which language it is in; quoted threads below it may not.
    lowered = text[:SAMPLE_CHARS].lower()
    scores = dict.fromkeys(LANGUAGES, 0.0)
    weights = _word_weights()
    for word, count in Counter(_WORD_RE.findall(lowered)).items():
        for lang, weight in weights.get(word, {}).items():
            scores[lang] += weight * count
    for pattern, hints in _LETTER_HINTS:
        found = len(pattern.findall(lowered))
        if found:
            for lang, weight in hints.items():
                # Letters are strong but numerous: cap so a long name with ö cannot outvote
                # a whole English paragraph.
                scores[lang] += weight * min(found, 6)
    return scores


# Lines that are not prose: address blocks, dates, reference lines, identifier lists
# ("Name: ...", "Tel: +46 ..."), names in signatures. A Swedish street name in an English
# letter's address block, or "Micromedic AB, Box 1123, 751 41 Uppsala" above a Danish letter,
# must not decide the reply language (issue 12). Greetings and sign-offs ("Med venlig hilsen")
# stay: they are good evidence.
_LABEL_LINE = re.compile(r"^\W*[\w .'/-]{1,30}:\s*\S")
_ADDRESS_LIKE = re.compile(r"\d|@|https?:|www\.")
_CAPITALISED = re.compile(r"[A-ZÅÄÖÆØÉÜ][\w'-]*")


def _is_prose(line: str) -> bool:
    words = line.split()
    if _LABEL_LINE.match(line) or (_ADDRESS_LIKE.search(line) and len(words) <= 6):
        return False
    if not words:
        return False
    weights = _word_weights()
    # A name ("Mette Kjær", "Micromedic AB"): capitalised words none of which is a known word.
    return not (
        len(words) <= 4
        and all(_CAPITALISED.fullmatch(w.strip(",.")) for w in words)
        and not any(w.strip(",.!").lower() in weights for w in words)
    )


def prose(text: str) -> str:
    """`text` without address, date, identifier and name lines, or all of it when nothing
    else is left."""
    lines = [line for line in text.splitlines() if _is_prose(line)]
    return "\n".join(lines) if lines else text


def detect_language(text: str, default: str = "sv") -> str:
    """The most likely of sv/en/nb/da, or `default` when there is no evidence at all. Judged
    on the prose lines (see `prose`), so address blocks and signatures do not count."""
    scores = language_scores(prose((text or "")[: SAMPLE_CHARS * 4]))
    best = max(LANGUAGES, key=lambda lang: scores[lang])
    if scores[best] <= 0.0:
        return default
    tied = [lang for lang in LANGUAGES if scores[lang] == scores[best]]
    if len(tied) > 1:
        return default if default in tied else tied[0]
    return best
