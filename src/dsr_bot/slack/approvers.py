"""Who may act on cases: Slack user IDs (U…/W…) and members of user groups (S…).

Group membership is read with `usergroups.users.list` and cached for a few minutes, so a
person removed from the group loses the right soon without every click costing an API call.
If the lookup fails we refuse (fail closed): an outage must not widen who can release data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class Approvers:
    def __init__(
        self,
        client: WebClient,
        ids: Iterable[str],
        *,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        ids = [i.strip() for i in ids if i.strip()]
        self.users = frozenset(i for i in ids if not i.startswith("S"))
        self.groups = tuple(i for i in ids if i.startswith("S"))
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def is_approver(self, user_id: str) -> bool:
        if user_id in self.users:
            return True
        return any(user_id in self._members(group) for group in self.groups)

    def _members(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
        except (SlackApiError, OSError) as exc:
            log.warning("cannot read user group %s: %s", group, type(exc).__name__)
            return cached[1] if cached is not None else frozenset()
        members = frozenset(response.get("users") or [])
        with self._lock:
            self._cache[group] = (now, members)
        return members
