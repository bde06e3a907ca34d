"""Removing attachments from a stored message, keeping its text (EDPB Guidelines 01/2022
§3.3, para. 77-78: a copy of an identity document must not be kept once identity is
confirmed; keeping the note that it was checked is enough).

Pure: bytes in, bytes out. The text parts stay as they were, so the message still reads as
it arrived; each removed part is replaced by a short text/plain part naming what went.

The stored mail came from outside and may be hostile: it is taken apart with intake's own
budgeted parser (`mail/parse.mime_tree`: headers capped, structure bounded, parameters
parsed once, compat32 headers), never with `policy.default`, whose header registry needs
seconds to minutes and gigabytes on a crafted Content-Type. What the budget had to cut is
cut in the stored copy too; it is a copy for staff to read, not evidence of the wire bytes.
"""

from __future__ import annotations

from email.charset import QP, Charset
from email.message import Message
from email.policy import compat32

from dsr_bot.mail.parse import mime_tree

NOTE = "[Attachment removed after identity verification: {name} ({ctype}), {size} bytes]"
# What replaces a stored mail, or its unread remainder, that could not be taken apart: an
# identity document may be in it, so nothing of it is kept.
UNREADABLE = "[Removed after identity verification: the MIME structure could not be read]"


def _readable_utf8() -> Charset:
    """UTF-8 with quoted-printable bodies, so a note stays legible in the stored bytes."""
    charset = Charset("utf-8")
    charset.body_encoding = QP
    return charset


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
    tree, partial = mime_tree(raw)
    if tree is None:
        return UNREADABLE.encode() + b"\n", 1
    # Past the parser's budget nothing was read: that remainder goes as one unread part.
    removed = 1 if partial else 0
    if not tree.is_multipart():
        if not partial:
            return raw, 0
        tree.set_payload(UNREADABLE, charset=_readable_utf8())
        return tree.as_bytes(policy=compat32), removed
    for part in list(tree.walk()):
        if not _is_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        note = NOTE.format(
            name=(part.get_filename() or "unnamed").replace("\n", " ")[:200],
            ctype=part.get_content_type(),
            size=len(payload) if isinstance(payload, bytes) else 0,
        )
        for header in list(part.keys()):
            del part[header]
        part.set_payload(note, charset=_readable_utf8())
        removed += 1
    if not removed:
        return raw, 0
    return tree.as_bytes(policy=compat32), removed
