"""Phrases that name a right outright, in Swedish, English, Norwegian and Danish.

Two uses: the fallback classifier when no trained model ships (so intake works from day one),
and evidence combined with the statistical model for explicit wording the corpus may not
cover ("enligt artikel 15", "avregistrera mig", "wipe my details"). Patterns run on the
lower-cased subject and the writer's own words (`own_words`: no quoted history, no newsletter
footer). They come in two strengths: STRONG phrases are the writer asking ("radera mina
uppgifter", "unsubscribe me"); WEAK ones only name the right ("registerutdrag", "artikel 17",
"profilering"), which vendor pitches, webinar invitations and newsletters do all the time,
so a weak hit alone never makes a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsr_bot.cases.model import FollowUp, FollowUpKind, RequestType
from dsr_bot.classify.business_objects import business_only
from dsr_bot.classify.citations import sentences as citation_sentences
from dsr_bot.classify.citations import strong_citations, without_descriptions, without_grounds
from dsr_bot.classify.follow_up import detect_follow_up
from dsr_bot.classify.own_data import addresses_own_data
from dsr_bot.classify.own_words import own_words

_ART = r"(?:art(?:ikel|icle|\.)?|artikkel)\s*"
_ME = r"(?:mig|mej|me|meg|my|mina|mine|mitt|min|mit)"
_DATA = (
    r"(?:personuppgifter\w*|uppgifter\w*|data|personal data|information|info|"
    r"personopplysning\w*|opplysning\w*|personoplysning\w*|oplysning\w*|konto\w*|account)"
)


def _near(verbs: str, objects: str, gap: int = 6) -> str:
    """A verb followed within `gap` words by its object ("wipe all of my details")."""
    return rf"(?:{verbs})\w*(?:\W+\w+){{0,{gap}}}?\W+(?:{objects})"


# Wordings people use instead of the law's terms; outsiders rarely write "erasure".
_MY_STUFF = (
    r"(?:my|mina|mitt|min|mine|mit|dine)\s+(?:\w+\s+)?(?:data|details|info\w*|record\w*|"
    r"profile|account|uppgifter\w*|profil\w*|konto\w*|adress\w*|opplysning\w*|"
    r"\w*handlingar|cv|application|photo\w*|bild\w*|foto\w*|e-?mail address|"
    r"oplysning\w*|personopplysning\w*|personoplysning\w*|personuppgifter\w*)"
    r"|(?:allt?|alle|everything|all|alt)\s+(?:ni har |you have |dere har |i har )?"
    r"(?:om|about|on|of) (?:mig|mej|me|meg)"
    r"|(?:spår|uppgift\w*|info\w*|data|details|traces?|record\w*|opplysning\w*|oplysning\w*) "
    r"(?:av|om|on|of|about) (?:mig|mej|me|meg)\b"
    r"|it all\b|them all\b|all of it|everything\b|allt(?:ihop)?\b|alltihop|alt sammen|det hele"
    r"|(?:me|mig|mej|meg) (?:from|ur|från|fra) (?:your|era|er|deres|jeres) "
    r"(?:system\w*|database\w*|register\w*|records|crm|kundregister\w*)"
)
_ERASE_VERBS = (
    r"delet|eras|wipe|purge|destroy|scrub|get rid of|remove|radera|ta bort|plocka\w* bort|"
    r"plockar bort|stryk|makuler|utplåna|rensa|förstör|slett|slet|fjern|gallra"
)
# Lookaheads keep reports ("Sven har slutat, hans mejl...") from reading as requests.
_STOP_VERBS = r"stop(?!ped)|quit|cease|sluta(?!t)|slutt(?!et)|stopp|hold op med|lad være med"
_MARKETING_THINGS = (
    r"e?-?mail\w*|emails|newsletter\w*|nyhetsbrev\w*|utskick\w*|mailing\w*|marketing|"
    r"offers|erbjudanden|reklam\w*|promotion\w*|brochure\w*|katalog\w*|julkort|sms|"
    r"sales calls|samtal|ringa|calling|nyhetsbrev|utsendelse\w*|tilbud|markedsføring|"
    r"follow-up mails|mejl\w*|mail"
)
_CONSENT = r"consent|permission|agreement|samtycke\w*|godkännande\w*|medgivande\w*|samtykke\w*"
_CONSENT_VERBS = (
    r"withdraw|revok|retract|take back|taking back|cancel|återkall|återta|drar tillbaka|"
    r"tar tillbaka|ångrar|trekk|tilbakekall|trækk|tilbagekald"
)


def _rx(*parts: str) -> re.Pattern[str]:
    # One leading word boundary for all branches: every phrase starts a word, and Python's
    # regex engine is about five times faster this way than with a boundary per branch.
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in parts) + ")")


_FIRST = r"(?:jag|i|vi|we|jeg)\s+(?:\w+\s+){0,3}?"
# Negated or announced deletion ("radera dem inte", "please don't delete", "you are about to
# delete"): typical of restriction requests (Art. 18(1)(b)-(c)), so no erasure evidence.
_NOT_DELETING = re.compile(
    r"\b(?:(?:don't|do not|not|inte|ikke|ej)\s+(?:\w+\s+){0,2}?(?:delete|erase|radera|slett|slet)"
    r"|(?:delete|erase|radera|slett|slet)\s+(?:\w+\s+){0,2}?(?:inte|ikke|not)\b"
    r"|about to delete|tänker radera|planerar att radera|ska radera|(?:will|going to) delete"
    r"|(?:har|have|has|ni|you)\s(?:\w+\s){0,2}?(?:raderat|deleted|erased|removed|tagit bort))"
)

_WRONG_SV = (
    r"(?:adress|namn|uppgift|telefonnummer|personnummer|titel|efternamn|födelse\w*|"
    r"mejladress|e-?postadress|mobilnummer|yrkestitel)"
)
_WRONG_EN = r"(?:name|surname|address|data|information|details|phone|title|email|date)\w*"

# STRONG: the writer asks for the right in their own words ("radera mina uppgifter",
# "unsubscribe me", "jag återkallar mitt samtycke"). Enough on its own.
STRONG: dict[RequestType, re.Pattern[str]] = {
    RequestType.ACCESS: _rx(
        r"(?:begär|begära|vill ha|önskar|få|beställa|kräver)\s+(?:\w+\s+)?registerutdrag",
        r"registerutdrag (?:på|om|över) (?:mig|mej)",
        r"subject access request\b",
        r"vilka (?:person)?uppgifter (?:ni|du|företaget) (?:har|behandlar|lagrar|sparar)",
        r"vad (?:har ni|ni har) (?:för (?:person)?uppgifter|sparat|lagrat|registrerat|om mig)",
        r"(?:send|give|provide|request|receive|get|like|want) (?:me )?(?:with )?(?:a |an )?"
        r"(?:full |complete )?copy of (?:all )?(?:the )?(?:my )?(?:personal )?"
        r"(?:data|information|info|records)",
        r"what (?:personal )?(?:data|information|info) (?:do )?you "
        r"(?:hold|have|store|keep|process)",
        r"what (?:do you|you) (?:have|hold|keep|store|know) (?:on|about) me\b",
        r"(?:where|how) did you get (?:hold of )?my",
        r"(?:varifrån|var) (?:har|fick) ni (?:\w+ ){0,2}?(?:mina|mitt|min)\b",
        r"kopia (?:på|av) (?:alla )?(?:mina )?(?:person)?uppgifter",
        r"(?:ber om|be om|krever|begjærer|anmoder om|ønsker|vil have|vil ha) (?:\w+ )?"
        r"(?:innsyn|indsigt)",
        r"hva har dere (?:lagret|registrert) om meg|hvad har i (?:gemt|registreret) om mig",
        # Everyday wordings: asking to see or know what is held about the writer.
        r"(?:what|which) (?:personal )?(?:data|information|info|details|records) (?:\w+ ){0,4}?"
        r"(?:about|on|of|regarding) me\b",
        r"(?:see|know|find out|tell me|show me|request|obtain|access|disclose) (?:\w+ ){0,4}?"
        r"(?:data|information|info|details|records) (?:\w+ ){0,4}?(?:about|on|regarding) me\b",
        r"(?:request|like|want|need|send|give|provide|receive|obtain) (?:\w+ ){0,4}?cop(?:y|ies) "
        r"of (?:\w+ ){0,3}?(?:data|information|info|details|records|file)",
        r"(?:vilka|vilken|vad för) (?:\w+ ){0,2}?(?:uppgifter|information|info|data) (?:\w+ ){0,4}?"
        r"(?:om (?:mig|mej)|ni har|ni lagrar|ni sparar|ni behandlar)",
        r"(?:veta|se|ta del av|få ut|tillgång till) (?:\w+ ){0,3}?(?:uppgifter|information|data|"
        r"allt) (?:\w+ ){0,3}?(?:om (?:mig|mej)|ni har)",
        r"begär(?:a)? ut\b",
        r"vad (?:\w+ ){0,2}?ni (?:har|vet|sparat|lagrat) (?:\w+ )?om (?:mig|mej)",
        r"hvilke (?:person)?op(?:p)?lysninger (?:\w+ ){0,3}?(?:om (?:meg|mig)|dere har|i har)",
        r"hva (?:har|vet) dere om meg|hvad (?:har|ved) i om mig",
    ),
    RequestType.ERASURE: _rx(
        # Polite and formal nominal forms: "request the closure of my account and the deletion
        # of all associated personal data", "requesting immediate erasure of personal data".
        r"(?:request|requesting|ask for|demand)\w* (?:the )?(?:immediate |complete |permanent )?"
        r"(?:closure|deletion|erasure|removal)\b",
        r"(?:deletion|erasure|removal) of (?:all )?(?:of )?(?:my|the|personal|associated|any)\b",
        r"(?:krever|ber om|anmoder (?:hermed )?om|beder om|kræver) (?:\w+ )?(?:sletting|sletning)",
        r"(?:jag|härmed)\s+(?:\w+\s+)?(?:begär|begära)\s+(?:\w+\s+)?radering",
        r"radera(?:r|s|d)? (?:alla )?" + _ME + r"?\s*" + _DATA,
        r"radera(?:r|s|d)? (?:mig|mej|allt om mig)",
        r"glöm (?:bort )?(?:mig|mej)|glömmer (?:bort )?(?:mig|att jag)|forget (?:about )?me\b|"
        r"glem (?:mig|meg)\b",
        r"(?:exercise|invoke|use) my right to (?:be forgotten|erasure)",
        r"(?:utnyttja|använda|åberopa) (?:min )?rätt (?:att bli glömd|till radering)",
        r"(?:delete|erase) (?:all )?(?:of )?(?:my|me\b)",
        r"slett\w* (?:alle )?" + _ME,
        r"slet (?:alle )?" + _ME,
        r"slett\w* (?:\w+ ){0,2}?(?:min|mine|mitt|meg)\b|slet (?:\w+ ){0,2}?(?:min|mine|mit|mig)\b",
        r"(?:ur|från|from|out of|fra) (?:era|ert|er|your|deres|jeres|all your) (?:\w+ )?"
        r"(?:register\w*|database\w*|databas\w*|system\w*|crm|kundregister\w*|records)",
        r"(?:ta bort|radera|avsluta|stäng|delete|close|remove) (?:(?:mitt|my|mit|min) (?:\w+ )?"
        r"(?:\w*konto\w*|account)|\w*kontot)\b",
        _near(_ERASE_VERBS, _MY_STUFF),
        # Passive and "want it deleted" forms: the object comes before the verb.
        r"(?:want|like|need|wish|request|demand)s? (?:all )?(?:of )?(?:my|mina|mitt|min) "
        r"(?:\w+ ){0,3}?(?:to be )?(?:deleted|erased|removed|wiped|purged)\b",
        r"(?:att|at) (?:alla )?(?:mina|mitt|min|mine|mit) (?:\w+ ){0,3}?(?:raderas|tas bort|"
        r"slettes|fjernes)\b",
        r"(?:want|like|need) (?:it|them|this|everything|that|all of it) (?:all )?"
        r"(?:deleted|erased|removed|wiped|gone)",
        r"wipe (?:it|them|that|everything)\b",
        r"bli (?:raderad|utplånad)\b",
        r"(?:skal|ska|skall|må|bør) (?:de|dem|den|det|alt|alle|allt) (?:\w+ )?"
        r"(?:slettes|raderas|tas bort|fjernes)",
        r"(?:close|shut|deactivate|avsluta|stäng|radera|delete) (?:down |ner )?(?:my|mitt|min) "
        r"(?:\w+ )?(?:account|login|konto|profil)",
    ),
    RequestType.RECTIFICATION: _rx(
        # A bare demand, often followed by a list of identifiers (issue 12).
        r"(?:request|requesting|demand|ask for|require) (?:the |immediate )?(?:correction|"
        r"rectification) of\b",
        r"(?:correction|rectification|rättelse|retting|berigtigelse) (?:of|av|af) (?:the )?"
        r"(?:inaccurate|incorrect|wrong|felaktiga|uriktige|urigtige|forkerte)",
        r"(?:krever|ber om|anmoder om|beder om|kræver) (?:\w+ )?(?:retting|berigtigelse)",
        r"(?:begär|begära|vill ha) rättelse",
        r"rätta\w* (?:mitt|min|mina|uppgift|det|detta|dem|adress|namn)",
        r"(?:ni har|har ni|står|är|registrerat)\s(?:\w+\s){0,4}?(?:fel|felaktiga?)\s" + _WRONG_SV,
        r"(?:min|mitt|mina) (?:\w+ )?" + _WRONG_SV + r" (?:är|stämmer) (?:fel|inte)",
        r"korrigera (?:mitt|min|mina|det|detta|uppgift)",
        r"(?:correct|update|change|fix) (?:my|the|your) (?:\w+ )?(?:name|address|email|phone|"
        r"details|data|surname|title|record)",
        r"(?:you have|you've got|your records have|you hold|is|are)\s(?:\w+\s){0,3}?"
        r"(?:wrong|incorrect|inaccurate|outdated)\b",
        r"(?:my|the) (?:\w+ )?" + _WRONG_EN + r" (?:is|are) (?:wrong|incorrect|outdated)",
        r"(?:name|surname) (?:is )?(?:spelled|spelt|wrong)",
        r"(?:stavar|stavat) (?:mitt )?(?:namn )?fel",
        r"\bret(?:t)? (?:det|opp|venligst)",
        r"(?:update|amend) (?:my|your records|the records)",
        r"my new (?:address|surname|name|email|e-mail|phone|number|title) is",
        r"(?:heter|hedder|heiter) (?:numera|nu|nå)\b|(?:mitt )?nytt efternamn\b",
        r"(?:ändra|uppdatera|byt|oppdater\w*|endre|opdater\w*|ret) (?:\w+ )?(?:min|mitt|mina|"
        r"mit|mine)\b",
        r"(?:stavas|staves|staves) (?:\w+ ){0,2}?(?:inte|ikke|not)\b",
    ),
    RequestType.RESTRICTION: _rx(
        # Either/or: "delete it or, if you must keep it, restrict/block/freeze it" asks for both
        # rights (issue 12); the erasure half is found by the erasure patterns.
        r"(?:\bor\b|eller|ellers|alternatively|in the alternative|i andra hand|subsidiært|"
        r"failing that|where erasure is not possible|if you (?:must|have to|are (?:legally )?"
        r"(?:required|obliged)))[^.\n]{0,80}?\b(?:restrict|block|freeze|lock|begräns|spärra|"
        r"frys|lås|begrens|sperr|begræns|spær)\w*",
        r"restrict (?:its|their|the|my|all) (?:\w+ )?processing|restriction of (?:the )?processing"
        r" (?:of|under)",
        r"begränsa (?:behandlingen|er behandling)",
        r"(?:begär|begära) begränsning",
        r"restrict (?:the )?processing",
        r"frys\w* (?:mina|mitt|allt|behandling)",
        r"freeze (?:my|everything|all)",
        r"spärra mina (?:person)?uppgifter",
        # "Don't use it until ...": hold the data, do not process it (Art. 18(1)).
        r"(?:don't|do not|stop|not|inte|sluta|ikke) (?:\w+ ){0,2}?(?:us(?:e|ing)|process\w*|"
        r"använd\w*|behandla\w*|bruk\w*|bruge)\b[^.!?\n]{0,80}?\b(?:until|while|pending|tills|"
        r"medan|i väntan|inntil|mens|indtil|for now|tills vidare)\b",
        r"(?:until|while|pending|tills|medan|inntil|mens|indtil)\b[^.!?\n]{0,80}?(?:don't|do not|"
        r"stop|inte|sluta|ikke) (?:\w+ ){0,2}?(?:us(?:e|ing)|process|använd|behandla|bruk|bruge)",
        r"(?:put|place) (?:a hold on|(?:my|all) (?:\w+ )?(?:data|information|details) on hold)",
        r"pausa (?:all |er )?(?:behandling|användning)\w*|pause (?:all )?(?:processing|use)",
        r"lås mina|keep (?:it|them|my data) but (?:don't|do not) use",
    ),
    RequestType.PORTABILITY: _rx(
        r"maskinläsbar\w*",
        r"machine[- ]readable",
        r"maskinlesbar\w*|maskinlæsbar\w*",
        r"flytt\w* (?:mina|min) (?:data|uppgifter)",
        r"transfer (?:my|the) data\b",
        r"export (?:all )?(?:of )?my data|exportera (?:min|mina|all min)",
    ),
    RequestType.OBJECTION: _rx(
        r"invänd\w* mot\b",
        r"(?:i|we) (?:am |are )?(?:hereby |strongly |also |formally )?object(?:ing)?\b",
        r"(?:jeg|vi) (?:\w+ )?protesterer\b|protesterer (?:jeg|herved|også)\b",
        r"gør (?:jeg )?(?:hermed )?(?:også )?(?:formelt )?indsigelse",
        r"object to (?:the|your|you|my|this|any|being)\b",
        r"motsätter mig\b",
        # Round 6: Swedish present tense, "Jag invänder också mot all behandling som ...".
        r"jag invänder (?:\w+ ){0,2}?mot\b|invänder jag (?:\w+ ){0,2}?mot\b",
        r"protest\w* mot\b",
        r"gør indsigelse\b",
    ),
    RequestType.MARKETING_OPTOUT: _rx(
        # An objection to direct marketing (Art. 21(2)-(3)) is the opt-out, not Art. 21(1).
        r"(?:object\w*|invänd\w*|invändning|motsätter|protest\w*|indsigelse|reserver\w*|"
        r"frabeder)[^.\n]{0,100}?(?:direct marketing|direktmarknadsföring|marknadsföring|"
        r"direktreklam|direkte markedsføring|markedsføring|advertising|reklame|annonsering|"
        r"offers\b|erbjudanden|tilbud\b)",
        r"avregistrera (?:mig|mej|oss|min|mitt|adress)",
        r"avanmäl (?:mig|mej)",
        r"unsubscribe (?:me|us|my|this|from|pls|please)\b|please unsubscribe",
        # The whole line is the word: a reply typed on a phone. A newsletter's own footer link
        # with the same word has been removed by `own_words` before this runs.
        r"(?m:^)(?:please |pls )?(?:unsubscribe|unsub|avregistrera|avregistrering|avanmälan|"
        r"afmeld|afmeld mig|meld av|stopp|opt out)\W*(?m:$)",
        r"opt (?:me )?out of",
        r"(?:sluta|slutar) (?:skicka|ringa|maila|mejla)",
        r"inte (?:längre )?(?:få|ha|ta emot) (?:några |fler |era |någon form av )?"
        r"(?:nyhetsbrev|utskick|reklam|erbjudanden|mejl|mail|sms|kataloger|marknadsföring)",
        # Round 6: "Kontakta mig inte längre i marknadsföringssyfte", "ikke kontakt meg i
        # markedsføringsøyemed", "receive no further advertising".
        r"(?:kontakta (?:mig|mej) inte|ikke kontakt (?:meg|mig)|kontakt (?:meg|mig) ikke)"
        r"(?: längre| lenger| længere)? i (?:marknadsförings|markedsførings)",
        r"(?:receive|get|send me) no (?:further |more )?"
        r"(?:advertising|marketing|offers|promotions)",
        r"(?:contact|call|email|text) me (?:\w+ )?for (?:marketing|sales|promotional|advertising)",
        r"stop (?:sending|emailing|calling|contacting)",
        r"no (?:more )?(?:marketing|newsletters|sales calls|promotional|promotions|offers)",
        r"(?:inga|no) (?:fler |more )?(?:erbjudanden|utskick|nyhetsbrev|sms|newsletters|emails|"
        r"invitations|invites|brochures|catalogues|reklam)",
        r"vill slippa (?:\w+ ){0,2}?(?:mejl|mail|utskick|reklam|erbjudanden|samtal|sms|"
        r"nyhetsbrev|kampanj|katalog|inbjudningar)",
        r"nej tack till (?:fler )?(?:erbjudanden|reklam|utskick)",
        r"meld\w* (?:meg|mig) (?:av|ud|fra)",
        _near(_STOP_VERBS, _MARKETING_THINGS, gap=4),
        r"(?:take|get|remove) me off (?:\w+ )?(?:your |the |this |all )?(?:\w+ )?(?:list|mailing)",
        r"remove me from (?:\w+ )?(?:your |the |this |all )?(?:\w+ )?(?:list|mailing|newsletter)",
        r"(?:ta bort|plocka bort|stryk|ta) (?:mig|mej|mitt \w+) (?:\w+ ){0,2}?(?:från|ur) "
        r"(?:\w+ )?(?:list\w*|utskick\w*|nyhetsbrev\w*|sändlist\w*|ringlist\w*|register)",
        r"(?:don't|do not|no longer) (?:want|wish) (?:to (?:receive|get|be contacted)|any more)",
        r"ta meg (?:ut|bort) (?:av|fra)",
        r"ikke (?:lenger |længere )?(?:å |at )?(?:bli |blive )?(?:ringt|oppringt|ringet op|motta|"
        r"modtage|få) (?:\w+ ){0,3}?(?:markedsføring|reklame|nyhetsbrev|nyhedsbrev|tilbud|e-?post|"
        r"av|af|op|fra|flere)",
        r"reserver (?:meg|mig) mot",
        r"(?:vill|vil) inte bli (?:uppringd|kontaktad|ringd|ringad)",
        r"(?:don't|do not|never) (?:call|contact|email|ring|text) me\b",
        r"(?:don't|do not) (?:want|wish to receive|need) (?:\w+ ){0,2}?(?:newsletter|e-?mails|"
        r"mails|marketing|offers|promotions|texts|sms|calls|brochures|catalogues)",
        r"(?:sluta|stop) (?:spamma|spamming|kontakta|contacting)",
        r"(?:avsluta|säga upp|cancel) (?:\w+ ){0,2}?(?:prenumeration\w*|nyhetsbrev\w*|subscription|"
        r"newsletter)",
        r"(?:inga|no) (?:fler |mer |more |further )(?:mejl|mail|e-?mails|sms|samtal|calls|texts)",
        r"fjern (?:meg|mig) fra (?:\w+ )?(?:e-?post)?list",
    ),
    RequestType.CONSENT_WITHDRAWAL: _rx(
        # Present tense exercises the right: "I am hereby withdrawing said consent", "any
        # consent I gave is hereby withdrawn" (issue 12).
        r"(?:i am|i'm) (?:hereby |also )?(?:withdrawing|revoking)\b",
        r"(?:is|are) (?:hereby )?(?:withdrawn|revoked)\b",
        r"(?:återkallas|trekkes tilbake|tilbakekalles|tilbagekaldes|trækkes tilbage) (?:härmed|"
        r"herved|hermed)",
        r"(?:trekker|trækker) (?:jeg )?(?:herved |hermed |også )?(?:\w+ ){0,4}?(?:tilbake|tilbage)",
        r"återkalla(?:r|s)? (?:härmed )?(?:mitt |mina |mit |min |samtliga |alla )?"
        r"(?:samtycke|samtycken)",
        r"(?:drar tillbaka|tar tillbaka) (?:mitt )?(?:samtycke|godkännande|tillstånd|ja)",
        r"samtycke\w* (?:återkallas|dras tillbaka|upphör|gäller inte)",
        r"withdraw\w* (?:my |all |any |the )?(?:consent|permission)",
        # Round 6: the consent named first, withdrawn after ("If I have given consent, I
        # hereby withdraw it", "Om jag har lämnat samtycke återkallar jag det härmed").
        r"(?:consent|samtycke|samtykke)\w*\b[^.\n]{0,60}?(?:\bi (?:hereby |also )?(?:withdraw|"
        r"revoke) (?:it|them|that|this)\b|återkallar jag (?:det|dem|detta) (?:härmed|också)|"
        r"trekker jeg (?:det|dem) (?:herved )?tilbake|trækker jeg (?:det|dem) (?:hermed )?tilbage)",
        r"revok\w* (?:my |that |the )?(?:consent|permission)",
        r"take back my (?:consent|permission)",
        r"trekk\w* (?:tilbake )?(?:mitt )?samtykke",
        r"tilbakekall\w* (?:mitt )?samtykke",
        r"trække\w* (?:mit )?samtykke",
        r"no longer consent\b",
        _FIRST + r"(?:" + _CONSENT_VERBS + r")\w*(?:\W+\w+){0,4}?\W+(?:" + _CONSENT + r")",
        r"(?:samtycker|samtykker) (?:\w+ )?(?:inte|ikke) (?:längre|lenger|længere)",
        r"no longer (?:agree|consent)\b",
        r"(?:don't|do not) consent to (?:you|your|the use|being|receiving|this processing)",
    ),
}

# "Take me off your mailing list" is an opt-out, not an erasure request (classifiers/README.md,
# labelling guide). The model, having seen "remove me from your lists and your database" many
# times, often adds erasure to it; without erasure evidence this caps that.
LIST_REMOVAL = re.compile(
    r"\b(?:take|get|remove|ta bort|plocka bort|stryk|ta|fjern) (?:me|mig|mej|meg|"
    r"(?:my|min|mitt|mina|mine) (?:\w+ )?(?:e-?mail|e-?mail address|address|number|name|details|"
    r"mejl\w*|e-?post\w*|adress\w*|nummer|mobilnummer|telefonnummer|namn|navn)) (?:off|from|"
    r"från|ur|fra) (?:\w+ )?(?:your |the |this |all |era |er |ert |jeres |deres )?(?:\w+ )?"
    r"(?:mailing list|email list|newsletter|list|lists|mailing|list\w*|utskick\w*|"
    r"nyhetsbrev\w*|sändlist\w*|ringlist\w*|e-?postlist\w*|mailliste\w*)\b"
)
# What makes a list removal an erasure request as well: a deletion verb, or the data's home
# (register, database, CRM, "everything") rather than a list. "Remove my email from your
# mailing list" has neither; "delete me from your lists and your database" has both.
_ERASURE_BEYOND_LIST = re.compile(
    r"\b(?:delet|eras|wipe|purge|destroy|scrub|radera|utplåna|makuler|slett|glöm|glem|forget|"
    r"gallra|rensa)\w*|\bslet\b"
    r"|\b(?:register|database|databas|system|crm\b|records\b|kundregist|kunddatabas|\w*konto|"
    r"account|profil)\w*"
    r"|\b(?:everything|allt|alltihop|alt sammen)\b"
)

# WEAK: the right's name or topic without the writer clearly asking ("registerutdrag",
# "artikel 17", "unsubscribe", "profilering"). Vendor pitches, webinar invitations and
# students' questions are full of these, so they only back a label the model already half
# believes (see SpacyClassifier) and on their own only send a mail to review.
WEAK: dict[RequestType, re.Pattern[str]] = {
    RequestType.ACCESS: _rx(
        _ART + r"15\b",
        r"registerutdrag",
        r"access request\b",
        r"dsar\b",
        r"sar\b",
        r"innsyn\b",
        r"indsigt\b",
        r"copy of (?:my|all my) (?:personal )?data",
    ),
    RequestType.ERASURE: _rx(
        _ART + r"17\b",
        r"glömd\w*\b",
        r"right to (?:be forgotten|erasure)",
        r"(?:deletion|erasure) request\b",
        r"radering\b",
    ),
    RequestType.RECTIFICATION: _rx(
        _ART + r"16\b",
        r"rättelse\b",
        r"korriger\w*",
        r"rectif\w*",
        r"retting\b",
        r"berigtig\w*",
        r"(?:incorrect|wrong|inaccurate|outdated) " + _WRONG_EN,
        r"(?:felaktig|fel) " + _WRONG_SV,
    ),
    RequestType.RESTRICTION: _rx(
        _ART + r"18\b",
        r"begränsning av (?:behandling|behandlingen)",
        r"restriction of (?:the )?processing",
        r"begrensning av behandling",
        r"begrænsning af behandling",
    ),
    RequestType.PORTABILITY: _rx(
        _ART + r"20\b",
        r"dataportabilitet\w*",
        r"portab\w*",
        r"(?:json|csv)\b",
    ),
    RequestType.OBJECTION: _rx(
        _ART + r"21\s*(?:\(1\)|1\b|punkt 1)",
        r"profilering\w*",
        r"profiling\b",
        r"berättigat intresse",
        r"legitimate interest",
        r"protestere\w*",
        r"objection to\b",
    ),
    RequestType.MARKETING_OPTOUT: _rx(
        _ART + r"21\s*(?:\(2\)|\(3\)|2\b|3\b)",
        r"avregistrer\w*",
        r"avanmäl\w*",
        r"unsubscribe\w*",
        r"opt[- ]?out\b",
        r"nix\b",
        r"direktmarknadsföring\b",
        r"direct marketing\b",
        r"afmeld\w*",
        r"(?:vill|önskar) inte (?:längre )?(?:ha|få|bli kontaktad)",
    ),
    RequestType.CONSENT_WITHDRAWAL: _rx(
        _ART + r"7\s*(?:\(3\)|\.3|3\b)",
        _near(_CONSENT_VERBS, _CONSENT, gap=4),
    ),
}

# Machine-written mail that quotes our own words back; rules must not fire on it.
_NOT_A_REQUEST = re.compile(
    r"(?:out of (?:the )?office|automatic reply|auto-?reply|autosvar|automatiskt svar|"
    r"frånvaromeddelande|fraværsmelding|fraværsbesked|delivery status notification|"
    r"undeliverable|mailer-daemon|delivery has failed|returned mail|kunde inte levereras|"
    r"read receipt|läsbekräftelse|has been read|was read on|har lästs|message recall|"
    r"kunde inte återkallas|could not be recalled)"
)


# Letters are read whole up to this size (issue 12: generator letters put the request after a
# page of background); own_words has already cut quoted history. The cap is the parse budget.
SAMPLE_CHARS = 20_000

# "Stop profiling me" is an objection; "I object to direct marketing" is the opt-out alone.
_MARKETING_SENTENCE = re.compile(
    r"marketing|marknadsföring|direktreklam|markedsføring|reklam|newsletter|nyhetsbrev|"
    r"nyhedsbrev|utskick|utsendelse|udsendelse|"
    # Round 6: profiling "for sending me personalised offers" is profiling for marketing.
    r"offers\b|advertis|campaign|promotion|erbjudande|kampanj|annons|tilbud|"
    # ... and a sentence that cites Art. 21(2)/(3) ("I object under Art. 21(2) GDPR").
    r"\b21\s*\(\s*[23]\s*\)|\b21\.[23]\b|\b21 nr\. ?[23]\b|\b21, stk\. ?[23]\b"
)


@dataclass(frozen=True)
class Evidence:
    """Rights named in the writer's own words: `strong` asked for, `weak` only mentioned."""

    strong: frozenset[RequestType]
    weak: frozenset[RequestType]
    list_only: bool = False  # asks off a mailing list and names no erasure
    # Labels whose verb has a business document as object (business_objects.py), a ground
    # listed as a reason for erasure, an objection that is only to direct marketing, or
    # portability next to an Art. 15 enumeration: no evidence for them, and the model's score
    # is held in the review band.
    held: frozenset[RequestType] = frozenset()
    follow_up: FollowUp | None = None
    # The writer asks us about their own personal data or privacy rights (own_data.py): if
    # no label passes, the mail goes to review instead of "not a request".
    own_data: bool = False


NO_EVIDENCE = Evidence(frozenset(), frozenset())


def _hits(patterns: dict[RequestType, re.Pattern[str]], text: str) -> set[RequestType]:
    return {label for label, pattern in patterns.items() if pattern.search(text)}


def rule_evidence(subject: str, text: str) -> Evidence:
    """Strong and weak hits in the subject and the writer's own words (no quoted history,
    no newsletter footer); nothing for auto-replies, bounces and read receipts."""
    lowered = f"{subject}\n{own_words(text[: SAMPLE_CHARS * 2])}"[:SAMPLE_CHARS].lower()
    if _NOT_A_REQUEST.search(lowered):
        return NO_EVIDENCE
    # Sentences that describe rights and duties in general (generator boilerplate, privacy
    # policy text, pitches: "Article 19 obliges the controller to communicate any erasure or
    # restriction") name rights without asking for any: they give no evidence (round 6).
    lowered = without_descriptions(lowered)
    # Grounds an erasure letter lists as reasons (Art. 17(1)(a)-(f)) are not requests for
    # consent withdrawal or objection: those two rights are read from the text without them.
    reasons_removed = without_grounds(lowered)
    strong = _hits(STRONG, lowered)
    weak = _hits(WEAK, lowered)
    # Round 6: an objection to direct marketing listed as a ground ("an objection under
    # Article 21(2) means the data may no longer be processed for that purpose") is a reason
    # too, as the issue says of objections.
    grounds_only = {
        RequestType.CONSENT_WITHDRAWAL,
        RequestType.OBJECTION,
        RequestType.MARKETING_OPTOUT,
    }
    strong -= grounds_only
    weak -= grounds_only
    strong |= _hits({k: STRONG[k] for k in grounds_only}, reasons_removed)
    weak |= _hits({k: WEAK[k] for k in grounds_only}, reasons_removed)
    strong |= strong_citations(lowered)
    weak -= strong
    held: set[RequestType] = set()
    if RequestType.ERASURE in strong | weak and reasons_removed != lowered:
        # The letter listed grounds: a model score for them is the grounds speaking.
        held |= grounds_only - strong
    if RequestType.MARKETING_OPTOUT in strong and RequestType.OBJECTION in strong | weak:
        # Art. 21(2)-(3): an objection to direct marketing is the opt-out; it is also an
        # Art. 21(1) objection only if a sentence without marketing objects on its own.
        other = "\n".join(
            x for x in citation_sentences(reasons_removed) if not _MARKETING_SENTENCE.search(x)
        )
        if not (STRONG[RequestType.OBJECTION].search(other) or _OBJECTION_21_1.search(other)):
            strong.discard(RequestType.OBJECTION)
            weak.discard(RequestType.OBJECTION)
            held.add(RequestType.OBJECTION)
    if RequestType.RECTIFICATION in strong and RequestType.ACCESS in strong:
        # "I request correction of inaccurate personal data held about me" names the data
        # about the writer to correct it, not to see it (issue 12).
        other = "\n".join(x for x in citation_sentences(lowered) if not _CORRECTING.search(x))
        if not STRONG[RequestType.ACCESS].search(other):
            strong.discard(RequestType.ACCESS)
            weak.add(RequestType.ACCESS)
    listed = (RequestType.RESTRICTION, RequestType.RECTIFICATION, RequestType.OBJECTION)
    if RequestType.ACCESS in strong and strong.intersection(listed):
        # An Art. 15(1)(e) item ("information about my right to request rectification,
        # erasure or restriction, and to object") names the rights; it does not ask for a
        # restriction (round 5), nor for a rectification or an objection (round 6).
        other = "\n".join(x for x in citation_sentences(lowered) if not _RIGHTS_LISTED.search(x))
        for label in strong.intersection(listed):
            if not STRONG[label].search(other) and label not in strong_citations(other):
                strong.discard(label)
                weak.add(label)
    if RequestType.ACCESS in strong and RequestType.PORTABILITY not in strong | weak:
        # An Art. 15(1) enumeration (copy, purposes, recipients, storage, source) is access;
        # portability needs a machine-readable format or a transfer (Art. 20).
        held.add(RequestType.PORTABILITY)
    if RequestType.ERASURE in strong | weak and _NOT_DELETING.search(lowered):
        strong.discard(RequestType.ERASURE)
        weak.discard(RequestType.ERASURE)
    held |= business_only(lowered)
    follow_up = detect_follow_up(lowered, has_request=bool(strong - held))
    if follow_up is not None and follow_up.kind is FollowUpKind.REMINDER:
        # A reminder names the right it chases ("my request for erasure", "Article 18"); the
        # mention is the chased right, not a pitch naming rights.
        strong |= weak
        weak = set()
        if strong - held:
            # ... and only that right: "my request under Article 18" is restriction, and a
            # model score for another right it does not name is a guess from the reminder's
            # wording, held in the review band (issue 12: the article number is the clue).
            held |= set(RequestType) - strong
    elif follow_up is not None:
        # A question about the process is not a new request: nothing is raised, every model
        # score is held in the review band, and intake routes it to the open case or review.
        held |= set(RequestType)
    strong -= held
    weak -= held
    list_removal = LIST_REMOVAL.search(lowered) is not None
    if list_removal:  # off a mailing list is an opt-out in every wording (labelling guide)
        strong.add(RequestType.MARKETING_OPTOUT)
        weak.discard(RequestType.MARKETING_OPTOUT)
    list_only = list_removal and (
        RequestType.ERASURE not in strong | weak or not _ERASURE_BEYOND_LIST.search(lowered)
    )
    if list_only:  # "remove my e-mail from your list": the guide's opt-out, not erasure
        strong.discard(RequestType.ERASURE)
        weak.discard(RequestType.ERASURE)
    return Evidence(
        frozenset(strong),
        frozenset(weak),
        list_only,
        frozenset(held),
        follow_up,
        own_data=addresses_own_data(lowered, names_right=bool(strong | weak)),
    )


_CORRECTING = re.compile(
    r"correct|rectif|amend|rätt(?:a|else)|korriger|rett(?:e|ing)|berigtig|oppdater|opdater|"
    r"uppdater|ändr|endr|ændr"
)
_RIGHTS_LISTED = re.compile(
    r"\b(?:rights? to|right of|rätt(?:en|igheter(?:na)?)? (?:till|att)|rett(?:en|igheter)? til|"
    r"ret(?:ten|tigheder)? til)\b"
)
_OBJECTION_21_1 = re.compile(r"\b(?:art\w*\.?)\s*21\s*(?:\(1\)|\.1|,?\s*stk\.\s*1|\s+nr\.?\s*1)")


def rule_hits(subject: str, text: str) -> set[RequestType]:
    """The rights the writer asks for outright (strong evidence only)."""
    return set(rule_evidence(subject, text).strong)
