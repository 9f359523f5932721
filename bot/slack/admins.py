"""Who may act: SIMSID_ADMINS users and members of the listed user groups (cached briefly)
on every application; each application's approvers (users and user groups too) on it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from store import applications
from store.db import Database

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
# How long a membership Slack last confirmed may stand in while Slack cannot be asked.
STALE_SECONDS = 15 * 60.0


class Admins:
    """Answers is_admin(user) from the settings and user group membership.

    Group membership is cached for CACHE_SECONDS, so a user removed from a group loses
    access within that time. Slack's definitive answers count at once: a group it says
    does not exist, or that the token may not read (`no_such_subteam`, `invalid_auth`,
    `missing_scope`, any `ok: false`), has no members. Only when Slack cannot be asked
    (a transport failure, a rate limit, a 5xx) does the last confirmed membership stand
    in, for at most STALE_SECONDS after Slack confirmed it; otherwise the user is
    refused (fail closed).
    """

    def __init__(
        self,
        users: frozenset[str],
        groups: tuple[str, ...],
        client: WebClient,
        *,
        ttl: float = CACHE_SECONDS,
        stale: float = STALE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self._groups = groups
        self._client = client
        self._ttl = ttl
        self._stale = stale
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def is_admin(self, user_id: str | None) -> bool:
        """Whether `user_id` is an admin (refused when that cannot be known)."""
        return self._answer(user_id, fresh=False) is True

    def still_admin(self, user_id: str | None) -> bool | None:
        """Whether `user_id` is an admin now, group members asked of Slack afresh rather
        than taken from the cache (for a decision that must not ride on a minute-old
        answer); None when Slack cannot be asked and no answer it gave in the last
        STALE_SECONDS stands in."""
        return self._answer(user_id, fresh=True)

    def _answer(self, user_id: str | None, *, fresh: bool) -> bool | None:
        return self.holds(user_id, self._users, self._groups, fresh=fresh)

    def holds(
        self,
        user_id: str | None,
        users: Iterable[str],
        groups: Iterable[str],
        *,
        fresh: bool = False,
    ) -> bool | None:
        """Whether `user_id` is one of `users` or a member of one of `groups` (the same
        cache and fail-closed rules as for the admins); None when Slack cannot say."""
        if not user_id:
            return False
        if user_id in users:
            return True
        unknown = False
        for group in groups:
            members = self._group_members(group, fresh)
            if members is None:
                unknown = True
            elif user_id in members:
                return True
        return None if unknown else False

    def known(self, user_id: str | None) -> bool | None:
        """is_admin's answer when it needs no call to Slack (the settings, or group
        memberships still fresh in the cache); None when Slack must be asked."""
        return self.known_among(user_id, self._users, self._groups)

    def known_among(
        self, user_id: str | None, users: Iterable[str], groups: Iterable[str]
    ) -> bool | None:
        """holds' answer when it needs no call to Slack; None when Slack must be asked."""
        if not user_id:
            return False
        if user_id in users:
            return True
        now = self._clock()
        with self._lock:
            fresh = [self._members.get(group) for group in groups]
        for cached in fresh:
            if cached is None or now - cached[0] >= self._ttl:
                return None
            if user_id in cached[1]:
                return True
        return False

    def _group_members(self, group: str, fresh: bool = False) -> frozenset[str] | None:
        """The group's members; None when Slack cannot be asked and no recent answer
        stands in (is_admin then refuses: fail closed)."""
        now = self._clock()
        with self._lock:
            cached = self._members.get(group)
        if cached and not fresh and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
            members = frozenset(response.get("users") or [])
        except SlackApiError as exc:
            if _definitive(exc):
                error = exc.response.get("error") if exc.response is not None else None
                log.warning(
                    "user group %s grants no admins: Slack answered %s", group, error or "an error"
                )
                with self._lock:
                    self._members.pop(group, None)
                return frozenset()
            return self._fallback(group, cached, now, type(exc).__name__)
        except (SlackClientError, OSError) as exc:
            return self._fallback(group, cached, now, type(exc).__name__)
        with self._lock:
            self._members[group] = (now, members)
        return members

    def _fallback(
        self, group: str, cached: tuple[float, frozenset[str]] | None, now: float, why: str
    ) -> frozenset[str] | None:
        if cached and now - cached[0] <= self._stale:
            log.warning("cannot read members of user group %s (%s): using the cache", group, why)
            return cached[1]
        log.warning("cannot read members of user group %s (%s): refusing its members", group, why)
        return None


def split_principals(principals: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(users, user groups) of a list of Slack ids: group ids start with S."""
    ids = tuple(principals)
    return frozenset(i for i in ids if not i.startswith("S")), tuple(
        i for i in ids if i.startswith("S")
    )


class Access:
    """`may_act(user, application)`: the admins on every application, its approvers on it.

    Approvers are the store's data (`simsid-bot apps add|edit --approvers`), read afresh
    on each question so a change counts at once; their user groups are resolved through
    the admins' cache and with the same fail-closed rules.
    """

    def __init__(self, admins: Admins, db: Database) -> None:
        self.admins = admins
        self._db = db

    def approvers(self) -> dict[str, tuple[str, ...]]:
        """Each application that has approvers, and their ids."""
        with self._db.read() as session:
            return applications.approvers(session)

    def approvers_of(self, app_id: str) -> tuple[str, ...]:
        """The application's approvers (user and user group ids); () when none."""
        with self._db.read() as session:
            return applications.approvers_of(session, app_id)

    def may_act(self, user_id: str | None, app_id: str) -> bool:
        """Whether `user_id` may act on the application's installations and read its
        secrets: an admin, or one of its approvers (refused when that cannot be known)."""
        return self.admins.is_admin(user_id) or self.approves(user_id, app_id) is True

    def approves(self, user_id: str | None, app_id: str, *, fresh: bool = False) -> bool | None:
        """Whether `user_id` is one of the application's approvers (its groups asked of
        Slack afresh with `fresh`); None when Slack cannot say."""
        users, groups = split_principals(self.approvers_of(app_id))
        return self.admins.holds(user_id, users, groups, fresh=fresh)

    def apps_of(self, user_id: str | None) -> frozenset[str] | None:
        """The applications `user_id` approves; None when they may act on every one (an
        admin). Empty when neither."""
        if self.admins.is_admin(user_id):
            return None
        mine = set()
        for app_id, principals in self.approvers().items():
            users, groups = split_principals(principals)
            if self.admins.holds(user_id, users, groups):
                mine.add(app_id)
        return frozenset(mine)

    def may_enter(self, user_id: str | None) -> bool:
        """Whether `user_id` may act on at least one application (an admin, or an approver)."""
        return self.apps_of(user_id) != frozenset()

    def known_entry(self, user_id: str | None) -> bool | None:
        """may_enter's answer when it needs no call to Slack; None when Slack must be asked."""
        admin = self.admins.known(user_id)
        if admin:
            return True
        unknown = admin is None
        for principals in self.approvers().values():
            users, groups = split_principals(principals)
            known = self.admins.known_among(user_id, users, groups)
            if known:
                return True
            unknown = unknown or known is None
        return None if unknown else False


def _definitive(error: SlackApiError) -> bool:
    """Slack answered, and the answer was no: not a rate limit or a failure on its side."""
    response: SlackResponse | None = error.response  # the error types it as Any
    if response is None:
        return False
    return response.status_code < 500 and response.status_code != 429
