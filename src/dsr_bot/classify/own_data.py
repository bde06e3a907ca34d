"""A mail about the writer's own data that gets no label goes to review, never to "not a request".

Why (issue 12, "no request dropped"): a real request whose every score stays below
`review_low` used to be read as not-a-request: no case, nobody asked, and the Art. 12(3) month
runs out unseen. The model cannot be tuned to never miss, so this is a rule by design: a mail
that a person (not a machine, not a mass mailing) addresses to us about *their own* personal
data or privacy rights, and that gets no label, goes to `needs_review` with the best
candidates. It never adds a label and never answers anything automatically; it only makes a
person look.

The rule, in full (also in classifiers/README.md):
- Not for automatic mail (auto-replies, bounces, read receipts: the rules are off for them
  already) nor for bulk mail: a mail with a marketing or pitch marker ("webinar", "book a
  demo", "our clients", "you are receiving this", "vi hjälper", "våra kunder", ...) is left
  alone, and so is a student's or journalist's question ("thesis", "questionnaire",
  "uppsats", "journalist"): it is about GDPR, not about the writer's data.
- In one sentence of the writer's own words, either
  (a) the writer's own data or account ("my data", "my personal data", "my account", "my
      details", "my rights", "about me", or in the same sentence as the request "my name",
      "my address", "my number", "my photo", "mina personuppgifter", "mitt konto", "om mig",
      "mine personopplysninger", "kontoen min", "mine personoplysninger", "om meg/mig") next
      to a request ("please", "I would like", "could you", "I request", "jag vill", "kan ni",
      "vänligen", "jeg ønsker", "kan dere", "venligst", ...), or
  (b) a data-protection term (GDPR, CCPA, "data protection", "personal data", "dataskydd",
      "personuppgifter", "personvern", "personopplysninger", "databeskyttelse",
      "personoplysninger") next to a first-person formal request verb ("I request", "I
      demand", "I exercise", "I invoke", "jag begär", "jag kräver", "jag utövar", "jeg krever",
      "jeg anmoder", "jeg kræver", "jeg beder om"), or
  (c) a citation of Art. 7 or 15-22 in a sentence where the writer asks (`citations.ASKING`);
  or, anywhere in the mail, a right named ("SAR", "registerutdrag", "right to be forgotten",
  "unsubscribe", "artikel 17": `rules.WEAK`) and a request ("please respond"); or, in a
  short mail (up to 400 characters with the subject), "my data/account/details" and a
  request in different sentences.
"""

from __future__ import annotations

import re

from dsr_bot.classify.citations import ARTICLE, ASKING, sentences

# The writer's own data, account or rights.
_OWN = re.compile(
    r"\b(?:my|mina|mitt|min|mine|mit)\s+(?:\w+\s+){0,2}?(?:data|information|info|details|"
    r"account|profile|record|records|file|rights?|privacy|uppgifter|personuppgifter|"
    r"information|konto|kontot|profil|rättigheter|opplysninger|personopplysninger|"
    r"oplysninger|personoplysninger|rettigheter|rettigheder|personvern)\b"
    r"|\b(?:kontoen|profilen|opplysningene|oplysningerne|dataene|personopplysningene|"
    r"personoplysningerne) (?:min|mine|mit)\b"
    r"|\b(?:about|on|regarding|concerning|relating to|om|angående|rörande|vedrørende)\s+"
    r"(?:me|mig|mej|meg)\b"
)
# What identifies the writer (their name, address, number, photo): personal data too, but
# also what service mail mentions ("my address is right"), so only next to a request in the
# same sentence ("could you fix my name").
_OWN_ID = re.compile(
    r"\b(?:my|mina|mitt|min|mine|mit)\s+(?:\w+\s+)?(?:name|surname|address|e-?mail address|"
    r"phone number|number|date of birth|photo\w*|picture\w*|image\w*|history|namn|efternamn|"
    r"adress|telefonnummer|nummer|bild\w*|foto\w*|navn|adresse|bilde\w*|billede\w*|"
    r"historik)\b"
)
# A request in any register: polite forms, wishes, questions to us, formal verbs.
_ASK = re.compile(
    r"\b(?:please|pls|kindly|could you|can you|would you|will you|would (?:be grateful|"
    r"appreciate)|i(?:'d| would)? (?:\w+ ){0,3}?(?:like|want|wish|need|request|ask|demand|"
    r"require|expect|exercise|invoke)|i'm (?:requesting|asking|writing to (?:ask|request))"
    r"|vänligen|snälla|kan ni|kan du|skulle ni|kunde ni|jag (?:\w+ ){0,2}?(?:vill|önskar|ber|"
    r"begär|kräver|utövar|behöver)|vennligst|kan dere|kunne dere|venligst|kan i|kunne i|"
    r"jeg (?:\w+ ){0,2}?(?:vil|ønsker|ber|beder|krever|kræver|anmoder|trenger|har brug))\b"
)
_PRIVACY = re.compile(
    r"\b(?:gdpr|ccpa|cpra|data protection|personal data|personal information|privacy|"
    r"dataskydd\w*|personuppgift\w*|personvern\w*|personopplysning\w*|databeskyttelse\w*|"
    r"personoplysning\w*)"
)
_FORMAL_ASK = re.compile(
    r"\b(?:i (?:\w+ ){0,2}?(?:request|demand|exercise|invoke|require)\w*|"
    r"jag (?:\w+ ){0,2}?(?:begär|kräver|utövar|åberopar)|"
    r"jeg (?:\w+ ){0,2}?(?:krever|anmoder|kræver|beder om|ber om|benytter|udøver))\b"
)
# A mail this short is one thought: its request and its object may sit in different sentences
# ("Spelling of my name" as the subject, "Could you fix it?" as the body).
SHORT = 400
# Articles whose citation names a right (7(3), 15-18, 20, 21) or belongs to them (19, 22).
_RIGHTS_ARTICLES = {7, 15, 16, 17, 18, 19, 20, 21, 22}
# Mass mailings and pitches: written to many, not about the reader's own data.
_BULK = re.compile(
    r"\b(?:webinar|webinarium|book a (?:demo|call|meeting)|schedule a (?:demo|call)|free trial|"
    r"our (?:clients|customers|consultancy|platform|solution|services|team of)|we help|"
    r"you are receiving this|you received this|view (?:this|it) in (?:your|a) browser|"
    r"register (?:now|here|today)|sign up (?:now|here|today)|"
    r"vi hjälper|våra kunder|boka (?:en )?(?:demo|möte)|anmäl dig|du får detta|"
    r"vi hjelper|våre kunder|book (?:en )?demo|meld deg på|du mottar denne|"
    r"vi hjælper|vores kunder|tilmeld dig|du modtager denne)\b"
    # Students, researchers and journalists asking how we handle requests (labelling guide:
    # not a request): about GDPR, not about the writer's own data.
    r"|\b(?:companies like yours|all-in-one|automate your|automatisera|pricing|prislista)\b"
    r"|\b(?:thesis|dissertation|questionnaire|survey|journalist|uppsats|examensarbete|enkät|"
    r"masteroppgave|spørreundersøkelse|speciale|spørgeskema)\b"
)


def _cites_a_right(sentence: str) -> bool:
    return any(int(m.group("n")) in _RIGHTS_ARTICLES for m in ARTICLE.finditer(sentence))


def addresses_own_data(lowered: str, names_right: bool = False) -> bool:
    """`lowered`: subject and the writer's own words, lower-cased. True when the writer asks
    us something about their own personal data or privacy rights (rule in the docstring).
    `names_right`: the rules found a right named or asked for (`rules.WEAK`/`STRONG`, not held)."""
    if not (
        names_right
        or _OWN.search(lowered)
        or _OWN_ID.search(lowered)
        or _PRIVACY.search(lowered)
        or ARTICLE.search(lowered)
    ):
        return False  # most mail: one pass, no sentence work
    if _BULK.search(lowered):
        return False
    asks_anywhere = _ASK.search(lowered) is not None
    if asks_anywhere and (names_right or (len(lowered) <= SHORT and _OWN.search(lowered))):
        return True
    for sentence in sentences(lowered):
        asks = _ASK.search(sentence) is not None
        if asks and (_OWN.search(sentence) or _OWN_ID.search(sentence)):
            return True
        if _PRIVACY.search(sentence) and _FORMAL_ASK.search(sentence):
            return True
        if _cites_a_right(sentence) and (asks or ASKING.search(sentence)):
            return True
    return False
