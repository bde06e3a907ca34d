"""The process's own memory ceiling (issue 13). Belongs in bootstrap.py after issue 10.

An address-space limit (RLIMIT_AS) turns a runaway allocation into a `MemoryError` that the
mail parser already catches and records (the message is parked for review); a cgroup limit
alone (systemd MemoryMax=, compose mem_limit) kills the whole process instead, and on restart
the same message would be read again. The deployment files set both: this limit first, the
cgroup one above it as the host's backstop.
"""

from __future__ import annotations

import logging
import resource

from dsr_bot.config import Settings

log = logging.getLogger(__name__)


def apply_memory_limit(settings: Settings) -> int | None:
    """Lower RLIMIT_AS to `memory_limit_mb` (0: leave it); returns the limit in bytes."""
    if not settings.memory_limit_mb:
        return None
    wanted = settings.memory_limit_mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft <= wanted:
        return soft  # already as low (systemd LimitAS=, ulimit -v): keep the stricter one
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    log.info("memory_limit address_space_mb=%d", wanted // (1024 * 1024))
    return wanted
