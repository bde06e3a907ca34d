"""The one way out of the process: everything that leaves it is a row here first.

`queue` holds the durable queue and its drainer; the transports that speak a protocol live
with that protocol (`mail/smtp.py`, `mail/imap.py`, `slack/transport.py`) and implement
`Transport`. See docs/outbox.md.
"""

from dsr_bot.outbox.queue import (
    DEAD,
    LEASE,
    PENDING,
    SENDING,
    SENT,
    Breaker,
    DrainResult,
    ItemRetry,
    Outbox,
    PermanentFailure,
    Transport,
    backoff_delay,
    enqueue,
    holder_dead,
    holder_id,
    retry_dead,
)

__all__ = [
    "DEAD",
    "LEASE",
    "PENDING",
    "SENDING",
    "SENT",
    "Breaker",
    "DrainResult",
    "ItemRetry",
    "Outbox",
    "PermanentFailure",
    "Transport",
    "backoff_delay",
    "enqueue",
    "holder_dead",
    "holder_id",
    "retry_dead",
]
