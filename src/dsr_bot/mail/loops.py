"""Should we send an automatic acknowledgement to this message? Mostly: is it automatic itself?

Two auto-responders answering each other fill both mailboxes in minutes; a bounce answered
with an acknowledgement bounces again. RFC 3834 sect. 2 lists what a responder must not
answer, and issue 2 item 9 adds the usual senders that nobody reads. The answer is a short
reason (for the audit trail and the Slack card) or None when acknowledging is fine.

The per-sender daily limit (issue 2 item 9) needs the store and lives in intake.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dsr_bot.mail.address import limit_key

if TYPE_CHECKING:
    from dsr_bot.mail.parse import ParsedMessage

# Mailboxes that are machines or that nobody reads (RFC 2142 for the role names; RFC 3834
# sect. 2 mentions "-request" and "owner-" list addresses).
_MACHINE_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|listserv|majordomo|"
    r"owner-.+|.+-request|.+-bounces?)([+=-].*)?$",
)
# RFC 2076 sect. 3.9; RFC 3834 sect. 2 names exactly these three.
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# Out-of-office replies that carry none of the headers (old clients, webmail).
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matiskt)? ?svar|autoreply|auto-reply|out of office|"
    r"frånvaro(meddelande)?|fraværende|fravær|abwesend|automatisk svar)\b",
    re.IGNORECASE,
)


def _keywords(value: str) -> list[str]:
    """Lower-cased keywords of a (possibly repeated, ", "-joined) header, parameters dropped."""
    words = [part.split(";", 1)[0].strip().lower() for part in value.split(",")]
    return [word for word in words if word] or [""]


def _canonical(address: str) -> str:
    """Lower-case and drop a "+tag" (sub-addressing, RFC 5233) for comparing our addresses:
    the same key the per-sender acknowledgement limit counts on (mail/address.py)."""
    return limit_key(address)


def auto_reply_reason(msg: ParsedMessage, own_addresses: frozenset[str]) -> str | None:
    """Why no automatic reply may go to `msg`, or None when one may."""
    if msg.sender_email is None:
        return "no sender"
    own = {_canonical(address) for address in own_addresses}
    if _canonical(msg.sender_email) in own:
        return "sender is our own address"
    if msg.is_delivery_report:
        return "delivery report"
    headers = msg.headers
    if "auto-submitted" in headers:
        # RFC 3834 sect. 5: any value other than "no" marks the message as automatic;
        # an empty or garbled value is treated as automatic too (fail safe).
        for keyword in _keywords(headers["auto-submitted"]):
            if keyword != "no":
                return f"auto-submitted: {keyword or '(empty)'}"
    for keyword in _keywords(headers.get("precedence", "")):
        if keyword in _BULK_PRECEDENCE:
            return f"precedence: {keyword}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers and _keywords(headers[name])[0] not in ("no", "false", "0"):
            return f"{name}: {_keywords(headers[name])[0] or '(empty)'}"
    if "x-auto-response-suppress" in headers:
        # Microsoft: the sender asks not to be auto-answered ("All", "OOF", "AutoReply", …).
        values = [v for v in _keywords(headers["x-auto-response-suppress"]) if v != "none"]
        if values:
            return f"x-auto-response-suppress: {values[0]}"
    # RFC 3834 sect. 2: a responder must not send to a null reverse-path.
    if headers.get("return-path", "").replace(" ", "") == "<>":
        return "null return-path"
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "mailing list"  # RFC 2919 / RFC 2369: a list or newsletter, not a person
    local = msg.sender_email.rpartition("@")[0]
    match = _MACHINE_LOCAL_PARTS.match(local)
    if match:
        return f"sender is {match.group(1)}"
    if _AUTO_REPLY_SUBJECT.match(msg.subject):
        return "subject looks like an automatic reply"
    return None


# Reasons that mean "this message answers something": a bounce, an out-of-office, our own
# mail. Such a message is never a new request. Other reasons (a web form's no-reply sender,
# Precedence: bulk, a list, X-Auto-Response-Suppress) only forbid the automatic answer: the
# message may still exercise a right and is classified.
_RESPONSE_PREFIXES = (
    "no sender",
    "sender is our own address",
    "delivery report",
    "auto-submitted: auto-replied",
    "x-autoreply",
    "x-autorespond",
    "null return-path",
    "subject looks like an automatic reply",
    "sender is mailer-daemon",
    "sender is postmaster",
    "sender is bounce",
)


def is_automatic_response(reason: str) -> bool:
    """True when `auto_reply_reason` said the message is itself an automatic response."""
    return reason.lower().startswith(_RESPONSE_PREFIXES)
