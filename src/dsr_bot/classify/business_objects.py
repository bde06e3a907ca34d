"""Deleting or correcting a *business document* is customer service, not a GDPR right.

The labelling guide (classifiers/README.md) draws the line: "delete the duplicate invoice /
the old quote / the draft order" is not erasure (Art. 17 concerns personal data about the
writer), and "change the delivery address on our order" or "our invoice address is wrong" is
not rectification (Art. 16 concerns the writer's own record). Both the model and the broad
erasure pattern "from your system" read such mails as requests, because the verbs are the
same. When the verb's object is such a document and the writer names nothing of their own
(me, my data, my account, my name), the label is held inside the review band instead.
"""

from __future__ import annotations

import re

from dsr_bot.cases.model import RequestType

_DELETE = (
    r"delet\w*|eras\w*|remov\w*|radera\w*|ta bort|tar bort|plocka\w* bort|makulera\w*|"
    r"slett\w*|slet|fjern\w*|stryk\w*|cancel\w*|annullera\w*"
)
_DOCUMENTS = (
    r"(?:duplicate|dubblett|invoice|faktura|order|ordre|quote|quotation|offert|tilbud|draft|"
    r"utkast|booking|bokning|ticket|ärende|basket|cart|varukorg|entry|post|rad|line|"
    r"beställning|bestilling)\w*"
)
BUSINESS_DELETE = re.compile(
    rf"\b(?:{_DELETE})\s+(?:\w+\s+){{0,3}}?(?:{_DOCUMENTS})\b"
    rf"|\b(?:{_DOCUMENTS})\s+(?:\w+\s+){{0,3}}?(?:raderas|tas bort|slettes|deleted|removed)\b"
)
_BUSINESS_ADDRESS = re.compile(
    r"\b(?:delivery|invoice|invoicing|billing|shipping|company|leverans|faktura|fakturerings|"
    r"leverings|levering|firma|företagets?|bolagets?)[- ]?(?:address|adress|adresse)\w*"
    r"|\b(?:vat|org(?:anisation|anization)?s?)[- ]?(?:number|nummer|nr)\b|organisationsnummer"
    r"|organisasjonsnummer"
)
# Anything of the writer's own: then the usual rules and the model decide.
_PERSONAL = re.compile(
    rf"\b(?:{_DELETE})\s+(?:me|mig|mej|meg|myself)\b"
    r"|\b(?:about|on|of|om|fra|from) (?:me|mig|mej|meg)\b"
    r"|\b(?:my|mina|mitt|min|mine|mit)\s+(?:\w+\s+)?(?:personal|person\w*|data|details|info\w*|"
    r"account|konto\w*|profil\w*|profile|name|namn|navn|surname|efternamn|e-?mail|mejl\w*|"
    r"phone|telefon\w*|number|nummer|uppgifter|opplysning\w*|oplysning\w*|record\w*|title|"
    r"titel|tittel|date of birth|födelse\w*|private|privat\w*|home|hem\w*|address\w*|adress\w*)\b"
)


def business_only(lowered: str) -> frozenset[RequestType]:
    """Labels to hold below the threshold because the object is a document, not the writer."""
    if _PERSONAL.search(lowered):
        return frozenset()
    held = set()
    if BUSINESS_DELETE.search(lowered):
        held.add(RequestType.ERASURE)
    if _BUSINESS_ADDRESS.search(lowered):
        held.add(RequestType.RECTIFICATION)
    return frozenset(held)
