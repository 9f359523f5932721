"""Who may act: SIMSID_ADMINS users, and members of the listed user groups (cached briefly)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0


class Admins:
    """Answers is_admin(user) from the settings and user group membership.

    Group membership is cached for CACHE_SECONDS, so a user removed from a group loses
    access within that time. When Slack cannot be asked, a stale answer is used if there
    is one; otherwise the user is refused (fail closed).
    """

    def __init__(
        self,
        users: frozenset[str],
        groups: tuple[str, ...],
        client: WebClient,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self._groups = groups
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def is_admin(self, user_id: str | None) -> bool:
        if not user_id:
            return False
        if user_id in self._users:
            return True
        return any(user_id in self._group_members(group) for group in self._groups)

    def _group_members(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._members.get(group)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
            members = frozenset(response.get("users") or [])
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("cannot read members of user group %s: %s", group, type(exc).__name__)
            return cached[1] if cached else frozenset()
        with self._lock:
            self._members[group] = (now, members)
        return members
