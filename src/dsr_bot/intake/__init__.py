"""From the privacy mailbox to a recorded decision for every message.

- `watcher.py`: the IMAP loop (IDLE, polling as fallback) that fetches and stores raw mail;
- `pipeline.py`: decides each stored message through the named steps in `steps.py`;
- `matching.py`: finds duplicates and the case a reply belongs to.
"""
