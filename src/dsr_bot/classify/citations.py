"""Legal citations as evidence, and the grounds an erasure letter lists as reasons.

Why (issue 12): formal letters name the right by its article ("Jag vill härmed utöva min rätt
till radering enligt artikel 17", "Art. 21(3) GDPR", "personvernforordningen artikkel 15",
"databeskyttelsesforordningens artikel 20", "§ 16"), and a reminder may name nothing else
("my request under Article 18"). The article is then strong, explainable evidence for its
right, but only where the writer is asking: vendor pitches, webinar invitations and privacy
notices cite the same articles without asking for anything.

The rule, in full (also in classifiers/README.md):
- Art. 15 access, 16 rectification, 17 erasure, 18 restriction, 20 portability, 21(1) or a
  bare 21 objection, 21(2)/(3) (or 21 next to "direct marketing") marketing opt-out,
  7(3) consent withdrawal. Other articles (4, 6, 12, 19, 22, 46, ...) name no right.
- A citation is *strong* in a sentence where the writer asks or exercises ("I hereby
  request", "jag begär", "jeg krever", "jeg anmoder", "please", "this is a request", "my
  request under"), and *weak* elsewhere (the existing WEAK patterns already cover that).
- A ground an erasure letter lists as a condition (Art. 17(1)(a)-(f): "I have withdrawn my
  consent", "when consent is withdrawn", a list introduced by "when:"/"the following grounds
  apply:") is a reason for the erasure, not a separate request: such sentences are removed
  before the consent-withdrawal and objection rules look at the text.
- A present-tense statement ("I hereby withdraw my consent", "In addition, I object to",
  "jag återkallar härmed", "jeg protesterer") exercises that right and is not a ground.
- A sentence that *describes* rights or duties in general terms (round 6: the boilerplate of
  letter generators, privacy-policy text, DPO pitches: "Article 19 GDPR obliges the controller
  to communicate any rectification or erasure ...", "You have the right to object at any time
  to direct marketing", "den registrerade har rätt till ...") and has no first person in it
  names rights without asking for any: it gives no evidence, strong or weak. A range of
  articles ("Articles 15 to 22", "artikel 15-22") names no single right.
"""

from __future__ import annotations

import re

from dsr_bot.cases.model import RequestType

_ARTICLE = re.compile(
    r"(?:\bart(?:ikel|icle|ikkel|iklen|\.)?s?|§)\s*(?P<n>\d{1,2})(?!\d)"
    r"(?:\s*\(\s*(?P<p1>\d)\s*\)|\.(?P<p2>\d)(?!\d)|,?\s*stk\.\s*(?P<p3>\d)|\s+nr\.?\s*(?P<p4>\d)"
    r"|\s+punkt\s+(?P<p5>\d)|\s+(?:para(?:graph)?|paragraf|lid)\s*(?P<p6>\d))?"
)
_MARKETING = re.compile(
    r"direct marketing|marketing|direktmarknadsföring|marknadsföring|direktreklam|reklam|"
    r"direkte markedsføring|markedsføring|reklame|nyhetsbrev|newsletter"
)
# "§ 17" is a citation only in a mail about data protection, not in a tenancy dispute.
_DATA_PROTECTION = re.compile(
    r"gdpr|dataskydd|personvern|databeskyttelse|data protection|personuppgift|personopplysning|"
    r"personoplysning|personal data"
)
_SIMPLE = {
    15: RequestType.ACCESS,
    16: RequestType.RECTIFICATION,
    17: RequestType.ERASURE,
    18: RequestType.RESTRICTION,
    20: RequestType.PORTABILITY,
}

# The writer asking or exercising, in the sentence that carries the citation.
_ASKING = re.compile(
    r"\b(?:hereby|härmed|herved|hermed|med dette|please|kindly|vänligen|vennligst|venligst)\b"
    # English verbs after I/we; Scandinavian "i" (in) and "vi" would collide, so they are not
    # used as the subject there.
    r"|\b(?:i|we)\s+(?:\w+\s+){0,4}?(?:request|ask|exercis|invok|demand|requir|want|wish|"
    r"object|withdraw|revok|claim|am writing|write|make|am making|rely)\w*\b"
    r"|\b(?:jag|jeg)\s+(?:\w+\s+){0,4}?(?:begär|begära|ber|kräver|vill|önskar|utövar|"
    r"utnyttjar|åberopar|invänder|motsätter|återkallar|krever|ønsker|bruker|benytter|viser|"
    r"protesterer|trekker|reserverer|anmoder|beder|kræver|udøver|henviser|gør|frabeder|"
    r"skriver|skal ha)\b"
    r"|\b(?:this is a|this letter is a|treat this|detta (?:är|brev är) en|betrakta detta|"
    r"dette (?:er|brevet er) (?:et|en)|se denne|betragt denne)\b"
    # "Request for erasure under Article 17" as a subject line or "this request under", not
    # "can you handle a request under Article 17?" from a vendor.
    r"|(?:^\s*|\b(?:my|min|mitt|this|denna|denne|dette|our|vår|formal|formell)\s+)"
    r"(?:request|begäran|krav|kravet|anmodning|anmodningen|demand|objection|invändning|"
    r"protest|indsigelse)(?: \w+)? (?:for|of|om|under|pursuant|according|enligt|etter|efter|"
    r"i henhold|med stöd|jf)\b"
    r"|\bmy (?:\w+ )?(?:request|objection|right)\b|\bmin (?:\w+ )?(?:begäran|rätt|invändning|"
    r"anmodning|rett|ret)\b|\bkravet mitt\b"
)

# A list of Art. 17(1) grounds: its introduction, then the list items below it.
_GROUND_INTRO = re.compile(
    r"(?:\b(?:when|where|if|because|grounds?|reasons?|conditions?|när|då|eftersom|grunder(?:na)?|"
    r"skäl|villkor\w*|når|fordi|grunnlag\w*|grunner|vilkår\w*|grunde|betingelser\w*|"
    r"17\s*\(1\)|17\.1|17 nr\. 1|17, stk\. 1)\b[^:\n]{0,80}:\s*$)"
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•–—]|\(?[a-z0-9]{1,3}[.)])\s*")
# A single sentence that states a ground rather than exercising a right: perfect tense, a
# condition, or an Art. 17(1)(x) reference.
_GROUND_SENTENCE = re.compile(
    r"\b(?:have|has|had) (?:already |previously )?(?:withdrawn|revoked|objected)\b|"
    r"\b(?:when|whenever|where|if|once|since|because|after|unless) (?:the )?"
    r"(?:data subject|i|consent|my consent)\b"
    r"[^.\n]{0,40}(?:withdraw|object|revok)|"
    r"\bhar (?:redan |tidigare )?(?:återkallat|invänt|dragit tillbaka|trukket|protestert|gjort "
    r"indsigelse|tilbakekalt|tilbagekaldt)\b|"
    r"\b(?:när|då|om|eftersom|når|hvis|fordi) (?:samtycket|samtykket|jeg|jag|den registrerade)\b"
    r"[^.\n]{0,40}(?:återkall|invän|trekk|trækk|protester|indsigelse|tilbakekall|tilbagekald)|"
    r"\b17\s*\(1\)\s*\([a-f]\)|\b17\.1 [a-f]\b|\bbokstav [a-f]\b|\blitra [a-f]\b"
)
# Present tense: the writer exercises the right now, so it is never a ground.
_EXERCISE = re.compile(
    r"\b(?:hereby|also|hermed|härmed|herved|også|också|dessutom|derudover|i tillegg|in addition)\b"
    r"|\bi (?:am )?(?:hereby )?(?:withdraw|revoke|object)|\bis hereby (?:withdrawn|revoked)"
    r"|\bjag (?:återkallar|invänder|motsätter)|\b(?:återkallar|invänder) jag\b"
    r"|\bjeg (?:trekker|protesterer|tilbakekaller|trækker|tilbagekalder|gør indsigelse)"
    r"|\b(?:trekker|protesterer|trækker|gør) jeg\b"
)
# ... unless the verb sits in a condition: "when I withdraw my consent", "after I object",
# "om jag återkallar", "når jeg trekker": the example of a ground, not an exercise.
_CONDITION = re.compile(
    r"\b(?:when|whenever|where|if|once|since|because|after|unless|as soon as|när|då|om|"
    r"eftersom|sedan|när|når|hvis|fordi|etter at|efter at|så snart)\s+(?:\w+\s+){0,2}?"
    r"(?:i|jag|jeg)\s+(?:\w+\s+)?(?:withdraw|revoke|object|återkallar|invänder|motsätter|"
    r"trekker|protesterer|tilbakekaller|trækker|tilbagekalder|gør indsigelse)"
)


# A sentence about rights and duties in general: a generic actor (the controller, the data
# subject, "you have the right", "du har rätt"), or an article as the subject of a sentence
# that grants or obliges ("Article 12(3) requires", "artikel 19 ålägger").
_DESCRIPTIVE = re.compile(
    r"\b(?:the|a|any|each|every) (?:controller|data subject|processor|recipient|supervisory)"
    r"|\b(?:controllers|data subjects|any person)\b|\byou have (?:the|a) right\b"
    r"|\byou (?:may|can) (?:ask|request|receive|obtain|object|withdraw|lodge|exercise|have)\b"
    r"|\b(?:the right|the rights|this right) (?:to|of|in)\b[^.\n]{0,80}\b(?:applies|apply)\b"
    r"|\b(?:article|art\.?) ?\d{1,2}[^.\n]{0,30}?\b(?:gives|requires|obliges|allows|sets out|"
    r"provides that|applies|contains)\b"
    r"|\bpersonuppgiftsansvarig\w*|\bden registrerade\b|\bregistrerades\b|\bdu (?:har|kan)\b"
    r"|\brätten (?:till|att)\b[^.\n]{0,80}\bgäller\b|\b(?:artikel|artiklarna) [\d. ,och]+ "
    r"(?:ger|ålägger|kräver|anger)\b"
    r"|\bbehandlingsansvarlig\w*|\bden registrerte\b|\bregistrertes\b"
    r"|\bretten til\b[^.\n]{0,80}\b(?:gjelder|gælder)\b|\bartikkel [\d. nr]+ (?:gir|pålegger)\b"
    r"|\bdataansvarlig\w*|\bden registrerede\b|\bregistreredes\b|\benhver registrer\w+"
    r"|\bartikel [\d, stk.]+ (?:giver|pålægger)\b"
)
# The writer's own voice (first person, singular or plural as lawyers write, or an imperative
# "please"): such a sentence is never boilerplate. ("i" is English only after a verb-like
# word: Scandinavian "i" means "in".)
_FIRST_PERSON = re.compile(
    r"\b(?:me|my|myself|i'm|i've|jag|mig|mej|mina|mitt|jeg|meg|mine|please|kindly|vänligen|"
    r"vennligst|venligst|on behalf of|our client|vår klient|vores klient|klienten vår)\b"
    r"|\b(?:we|vi) (?:\w+ )?(?:request|ask|demand|act|write|require|hereby|object|begär|kräver|"
    r"ber|företräder|krever|anmoder|representerer|beder|kræver|repræsenterer)\b"
    r"|\bmin (?!\d)|\bi (?:\w+ )?(?:am|have|had|request|ask|want|wish|would|object|withdraw|"
    r"revoke|hereby|do|did|must|expect|require|demand|invoke|exercise|shall|will|reserve|"
    r"invite|also|no longer|never|attach|write|consider|note)\b"
)
# "Articles 15 to 22", "artikel 15-22", "artikkel 15 til 22": a range names no single right.
_ARTICLE_RANGE = re.compile(r"\b(\d{1,2})\s*(?:-|–|to|till|til|through)\s*(\d{1,2})\b")


def describes_rights(sentence: str) -> bool:
    """A sentence about rights or duties in general, not the writer's own request."""
    return _DESCRIPTIVE.search(sentence) is not None and _FIRST_PERSON.search(sentence) is None


_CITED_RANGE = re.compile(
    r"\b(art(?:ikel|icle|ikkel|iklarna|iklene|iklerne|icles|\.)?\s*)\d{1,2}\s*(?:-|–|to|till|til|"
    r"through)\s*\d{1,2}\b"
)


def without_descriptions(lowered: str) -> str:
    """`lowered` minus the sentences that describe rights in general (boilerplate), with
    article ranges ("artiklarna 15 till 22") blanked: they name no single right."""
    out = lowered
    if _CITED_RANGE.search(out):
        out = _CITED_RANGE.sub(r"\1(range)", out)
        lowered = out
    for sentence in sentences(lowered):
        if describes_rights(sentence):
            out = out.replace(sentence, " ", 1)
    return out


def _exercises(text: str) -> bool:
    """A present-tense statement that exercises a right, not one in a condition."""
    return _EXERCISE.search(text) is not None and _CONDITION.search(text) is None


# "Art. 17", "nr. 1", "stk. 2", "jf. artikel 16", "t.ex.", "e.g." and "13. oktober" do not end
# a sentence.
_SENTENCE_END = re.compile(
    r"(?<!art)(?<!nr)(?<!stk)(?<!\bca)(?<!\bjf)(?<!lit)(?<!kap)(?<!t\.ex)(?<!e\.g)(?<!i\.e)"
    r"(?<!bl\.a)(?<!\d)\.\s+|[!?;]\s+|\n+"
)


# Public names for the rule that keeps a mail about the writer's own data out of "not a
# request" (own_data.py): the same citation and asking patterns as here.
ARTICLE = _ARTICLE
ASKING = _ASKING


def sentences(text: str) -> list[str]:
    """Sentences and lines; "Art. 17", "nr. 1", "stk. 2" are not sentence ends."""
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def cited_rights(sentence: str, data_protection: bool) -> set[RequestType]:
    """Rights whose article `sentence` cites."""
    found: set[RequestType] = set()
    sentence = _ARTICLE_RANGE.sub(" ", sentence) if _ARTICLE_RANGE.search(sentence) else sentence
    for match in _ARTICLE.finditer(sentence):
        if match.group(0).startswith("§") and not data_protection:
            continue
        number = int(match.group("n"))
        paragraph = next(
            (int(match.group(f"p{i}")) for i in range(1, 7) if match.group(f"p{i}")), None
        )
        if number in _SIMPLE:
            found.add(_SIMPLE[number])
        elif number == 21:
            if paragraph in (2, 3) or (paragraph is None and _MARKETING.search(sentence)):
                found.add(RequestType.MARKETING_OPTOUT)
            else:
                found.add(RequestType.OBJECTION)
        elif number == 7 and paragraph == 3:
            found.add(RequestType.CONSENT_WITHDRAWAL)
    return found


def strong_citations(lowered: str) -> set[RequestType]:
    """Rights cited in a sentence where the writer asks for or exercises them (not grounds)."""
    if not _ARTICLE.search(lowered):  # most mail cites nothing: skip the sentence work
        return set()
    data_protection = _DATA_PROTECTION.search(lowered) is not None
    found: set[RequestType] = set()
    for sentence in sentences(without_grounds(lowered)):
        if _ASKING.search(sentence):
            found |= cited_rights(sentence, data_protection)
    return found


def without_grounds(lowered: str) -> str:
    """`lowered` minus the grounds it lists as reasons (see the module docstring)."""
    # A grounds list needs an introduction ending in ":"; a ground sentence matches the
    # pattern in the whole text too. Without either there is nothing to remove.
    if ":" not in lowered and not _GROUND_SENTENCE.search(lowered):
        return lowered
    kept: list[str] = []
    in_list = False
    for line in lowered.splitlines():
        if in_list and _LIST_ITEM.match(line) and not _exercises(line):
            continue
        in_list = bool(_GROUND_INTRO.search(line))
        parts = sentences(line) or [line]
        kept.append(". ".join(p for p in parts if _exercises(p) or not _GROUND_SENTENCE.search(p)))
    return "\n".join(kept)
