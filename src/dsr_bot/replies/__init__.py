"""Replies to data subjects: the reviewed template library and header-safe composition.

`ReplyRenderer` turns a template name and a `ReplyContext` into a `RenderedReply` (subject,
plain text, HTML from one source, see `markup.py`); `compose_reply` wraps it in a threaded,
injection-proof `EmailMessage` ready for SMTP.
"""

from dsr_bot.replies.compose import addr_spec, compose_reply, make_message_id, thread_references
from dsr_bot.replies.context import RenderedReply, ReplyContext, sample_context
from dsr_bot.replies.render import ReplyRenderer, example_controller, templates_dir

__all__ = [
    "RenderedReply",
    "ReplyContext",
    "ReplyRenderer",
    "addr_spec",
    "compose_reply",
    "example_controller",
    "make_message_id",
    "sample_context",
    "templates_dir",
    "thread_references",
]
