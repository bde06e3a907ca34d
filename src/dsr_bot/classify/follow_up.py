"""Follow-ups: a reminder about an earlier request, or a question about the process.

Why: a reminder ("On 27 January I sent you a request under Article 18 GDPR and have had no
reply") is not a new request, but it carries the right it chases, and the Art. 12(3)
one-month clock may have started on the date it claims, so intake must thread it to the
earlier case or open one flagged with that date. A question about the process ("which ID do
you need?", "where will I get the answer?") is not a request at all: it belongs to the open
case, or to a person (issue 12). Both are marked on the classification (`FollowUp`), never
as a ninth right.

Pure text rules over the writer's own words (no quoted history), in sv/en/nb/da.
"""

from __future__ import annotations

import re
from datetime import date

from dsr_bot.cases.model import FollowUp, FollowUpKind

# The writer refers to something they sent or asked for before.
_PAST_REQUEST = re.compile(
    r"\b(?:i (?:sent|wrote|emailed|made|submitted|asked|requested|contacted)"
    r"|my (?:[\w()]+ ){0,3}?(?:request|letter|e-?mail|message|application|demand)|further to my"
    r"|jag (?:skickade|skrev|mejlade|begärde|bad|gjorde|lämnade)|min (?:tidigare |första )?"
    r"(?:begäran|förfrågan)|mitt (?:tidigare |förra )?(?:mejl|mail|brev)|med anledning av mitt"
    r"|tidigare (?:en )?begäran|skickade (?:jag )?tidigare"
    r"|jeg (?:sendte|skrev|ba|bad|krevde|anmodede|henvendte)|kravet mitt"
    r"|(?:sendte|skrev|skickade|begärde|ba|bad) (?:jeg|jag)\b"
    r"|(?:min|mitt) (?:tidligere )?(?:krav|anmodning|henvendelse|e-?post|e-?mail|brev)"
    r"|e-?posten min|anmodningen min)"
)
# ... and says it was not answered, or that this is a reminder.
_NO_ANSWER = re.compile(
    r"\b(?:no (?:reply|response|answer)|not (?:yet )?(?:received|had|heard)|(?:haven't|have not|"
    r"has not|hasn't) (?:been )?(?:received|had|heard|answered|responded|replied|dealt)|still "
    r"(?:not|no|waiting|have not|haven't)|unanswered|ignored|remains? outstanding|overdue|"
    r"deadline has (?:now )?(?:expired|passed)|reminder|chasing|follow(?:ing)?[- ]up|"
    r"second request|without (?:any |an )?(?:answer|reply|response)|nothing has happened|"
    r"please respond|utan svar|uten svar|uden svar|ingenting har hänt|svara snarast|"
    r"svar snarest|svar venligst|minner om|inget svar|inte (?:fått|hört|besvarat)|"
    r"obesvarad|påminn\w*|fortfarande|"
    r"uppföljning|tidsfristen (?:har )?(?:nu )?löpt ut|ingenting har hänt|"
    r"ikke (?:fått|hørt|svart|fået|besvaret)|ubesvar\w*|oppfølging|opfølgning|påmind\w*|"
    r"rykker|fremdeles|fortsatt|stadig|fristen (?:er|har) (?:nå |nu )?(?:løpt ut|udløbet))"
)
# Questions about how a request is handled; not a request by themselves. Asking which proof
# of identity is needed is always about a request already made (Art. 12(6)); asking how long
# or where the answer comes only when the mail refers to an ongoing request, since "how long
# does a registerutdrag take?" from a stranger is itself a request.
_IDENTITY_QUESTION = re.compile(
    r"\b(?:(?:what|which) (?:\w+ )?(?:verification|identification|id|proof|documents?)\b|"
    r"verify my identity|confirm my identity|identity check|asked (?:me )?for (?:my )?id\b|"
    r"vilk(?:en|a|et) (?:\w+ )?(?:identifiering|legitimation|handlingar|id)\b|"
    r"bekräfta min identitet|"
    r"hvilk(?:en|e|et) (?:\w+ )?(?:identifikasjon|identifikation|legitimasjon|legitimation|"
    r"dokumenter)\b|bekrefte identiteten min|bekræfte min identitet)"
)
_PROCESS_QUESTION = re.compile(
    r"\b(?:how long will (?:it|this|that) take|when (?:can|will|should) i (?:expect|get|receive)|"
    r"where (?:will|do|can|should) i (?:get|receive|find|download)|how (?:do|can) i download|"
    r"(?:link|portal) (?:you sent )?(?:has )?expired|why do you need|who is my contact|"
    r"is a \w+ (?:\w+ ){0,2}?enough|"
    r"hur lång tid|var (?:kommer jag att få|får jag)|varför behöver ni|länken (?:ni skickade )?"
    r"har gått ut|hur laddar jag|kontaktperson|räcker (?:en|det)|"
    r"hvor lang tid|hvor får jeg|hvorfor (?:trenger|skal) (?:dere|i)|"
    r"(?:lenken|linket) (?:dere |i )?(?:sendte )?(?:har|er) (?:utløpt|udløbet)|"
    r"hvordan (?:laster|henter) jeg|holder (?:en|det)|er (?:en|det) \w+ (?:\w+ )?nok)"
)
_ONGOING = re.compile(
    r"\b(?:my request|your (?:acknowledg\w*|e-?mail|letter|confirmation|reply|message|portal)|"
    r"you (?:asked|sent)|process (?:this|my)|the answer|hantera (?:detta|den|min)|"
    r"min begäran|ni bad|ni skickade|er bekräftelse|ert (?:mejl|svar|brev)|er portal|svaret|"
    r"kravet mitt|dere ba|dere sendte|bekreftelsen deres|e-?posten deres|"
    r"min anmodning|i bad|i sendte|jeres kvittering|jeres e-?mail|ärende|saken|sagen)\b"
)

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january januari januar jan",
        "february februari februar feb",
        "march mars marts mar",
        "april apr",
        "may maj mai",
        "june juni jun",
        "july juli jul",
        "august augusti aug",
        "september sept sep",
        "october oktober okt oct",
        "november nov",
        "december desember dec des",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    r"\b(?P<iso>(?P<iy>20\d\d)-(?P<im>\d\d?)-(?P<id>\d\d?))\b"
    r"|\b(?P<num>(?P<nd>\d\d?)[./](?P<nm>\d\d?)[./](?P<ny>20\d\d))\b"
    r"|\b(?P<dm>(?P<dd>\d\d?)(?:st|nd|rd|th)?\.? (?:of )?(?P<dmon>" + _MONTH + r")\b\.?"
    r"(?:,? (?P<dy>20\d\d))?)"
    r"|\b(?P<md>(?P<mmon>"
    + _MONTH
    + r")\.? (?P<md_d>\d\d?)(?:st|nd|rd|th)?\b(?:,? (?P<my>20\d\d))?)"
)


def _date_in(text: str) -> tuple[str, date | None, tuple[int, int] | None] | None:
    """The first date in `text`: as written, as a full date if it has a year, and as
    (month, day) if it has none. Impossible dates (31 February) are ignored."""
    for match in _DATE.finditer(text):
        groups = match.groupdict()
        if groups["iso"]:
            year, month, day = int(groups["iy"]), int(groups["im"]), int(groups["id"])
        elif groups["num"]:
            year, month, day = int(groups["ny"]), int(groups["nm"]), int(groups["nd"])
        elif groups["dm"]:
            year = int(groups["dy"]) if groups["dy"] else 0
            month, day = _MONTHS[groups["dmon"]], int(groups["dd"])
        else:
            year = int(groups["my"]) if groups["my"] else 0
            month, day = _MONTHS[groups["mmon"]], int(groups["md_d"])
        if not 1 <= month <= 12 or not 1 <= day <= 31:
            continue
        if year:
            try:
                return match.group(0).strip(" ."), date(year, month, day), None
            except ValueError:
                continue
        try:
            date(2000, month, day)  # leap year: 29 February is possible
        except ValueError:
            continue
        return match.group(0).strip(" ."), None, (month, day)
    return None


def _sentences(text: str) -> list[str]:
    # "Art. 17" and "nr. 1" are not sentence ends.
    return [s for s in re.split(r"(?<!art)(?<!nr)(?<!stk)(?<!\d)\.\s+|[!?;\n]+", text) if s.strip()]


def detect_follow_up(lowered: str, has_request: bool) -> FollowUp | None:
    """`lowered`: subject and the writer's own words, lower-cased. `has_request`: the rules
    found the writer asking for a right in their own words; then a process question in the
    same mail does not make it a mere question."""
    if _PAST_REQUEST.search(lowered) and _NO_ANSWER.search(lowered):
        claimed = None
        for sentence in _sentences(lowered):
            if _PAST_REQUEST.search(sentence):
                claimed = _date_in(sentence)
                if claimed:
                    break
        if claimed is None:
            return FollowUp(FollowUpKind.REMINDER)
        text, full, month_day = claimed
        return FollowUp(FollowUpKind.REMINDER, full, text, month_day)
    if not has_request and (
        _IDENTITY_QUESTION.search(lowered)
        or (_PROCESS_QUESTION.search(lowered) and _ONGOING.search(lowered))
    ):
        return FollowUp(FollowUpKind.PROCESS_QUESTION)
    return None
