"""Who may act on cases: Slack user IDs (U…/W…) and members of user groups (S…).

Group membership is read with `usergroups.users.list` and cached for a few minutes, so a
person removed from the group loses the right soon without every click costing an API call.
If the lookup fails once the cached list is older than that, we refuse (fail closed): an
outage must neither widen who can release data nor keep the right of someone removed from
the group while it lasts (Art. 32(1)(b), Art. 5(1)(f)).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from dsr_bot.cases.desk import Staff

log = logging.getLogger(__name__)

UNCHECKED = (
    "Slack could not be asked just now whether you are in the approver group, so to be safe "
    "this is refused; try again in a minute. Your attempt has been recorded."
)


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
        return self.check(user_id)[0]

    def staff(self, user_id: str) -> Staff:
        """The clicker as the desk sees them; a refusal says if Slack could not be asked."""
        approver, unchecked = self.check(user_id)
        return Staff(f"slack:{user_id}", approver, refusal=UNCHECKED if unchecked else "")

    def check(self, user_id: str) -> tuple[bool, bool]:
        """(may act, a group could not be read): the second explains a refusal."""
        if user_id in self.users:
            return True, False
        unchecked = False
        for group in self.groups:
            members = self._members(group)
            if members is None:
                unchecked = True
            elif user_id in members:
                return True, False
        return False, unchecked

    def _members(self, group: str) -> frozenset[str] | None:
        """The group's members, or None if they cannot be known now (no fresh cache)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
        except (SlackApiError, OSError) as exc:
            # A stale list is not used: someone removed from the group would keep the right
            # for as long as Slack stays unreachable.
            log.warning("cannot read user group %s: %s", group, type(exc).__name__)
            return None
        members = frozenset(response.get("users") or [])
        with self._lock:
            self._cache[group] = (now, members)
        return members
