"""Removing attachments from a stored message, keeping its text (EDPB Guidelines 01/2022
§3.3, para. 77-78: a copy of an identity document must not be kept once identity is
confirmed; keeping the note that it was checked is enough).

Pure: bytes in, bytes out. The text parts stay as they were, so the message still reads as
it arrived; each removed part is replaced by a short text/plain part naming what went.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

# Parsing is bounded by the stored size (intake keeps at most its own limit per message).
NOTE = "[Attachment removed after identity verification: {name} ({ctype}), {size} bytes]"


def _is_attachment(part: Message) -> bool:
    if part.is_multipart():
        return False
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    # An inline image or PDF is a scan just the same; inline text is the message itself.
    return part.get_content_maintype() not in ("text", "multipart", "message")


def without_attachments(raw: bytes) -> tuple[bytes, int]:
    """`raw` with every attachment replaced by a note; (new bytes, attachments removed).
    Returns `raw` unchanged (and 0) when there is nothing to remove."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message.is_multipart():
        return raw, 0
    removed = 0
    for part in list(message.walk()):
        if not isinstance(part, EmailMessage) or not _is_attachment(part):
            continue
        payload = part.get_payload(decode=True) or b""
        note = NOTE.format(
            name=(part.get_filename() or "unnamed").replace("\n", " ")[:200],
            ctype=part.get_content_type(),
            size=len(payload),
        )
        for header in list(part.keys()):
            del part[header]
        part.set_content(note, subtype="plain", charset="utf-8")
        removed += 1
    if not removed:
        return raw, 0
    return message.as_bytes(policy=policy.SMTP), removed
