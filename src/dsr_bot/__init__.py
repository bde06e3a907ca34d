"""dsr-bot: GDPR data-subject requests from a privacy mailbox to tracked, answered cases."""

__version__ = "0.1.0"
