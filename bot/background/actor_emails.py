"""The deciding person's email for the upstream event, asked of Slack off the ack path.

users.info answers `user.profile.email` only with the `users:read.email` scope. The
answer is kept in the database (store/user_emails.py) for every process and asked again
after a day. Without the scope, or when Slack fails, the email is None: a decision is
never held back for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.client import granted_scopes
from store import user_emails
from store.db import Database
from store.lifecycle import is_person

log = logging.getLogger(__name__)

SCOPE = "users:read.email"
NO_SCOPE = (
    "Slack has not granted the users:read.email scope: decisions go upstream with "
    "actor_email null. Reinstall the app from manifest.yml to name deciders by email."
)


class ActorEmails:
    """Looks emails up in the shared cache, then (once a day per user) in users.info."""

    def __init__(self, db: Database, client: WebClient, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.client = client
        self.clock = clock
        self._lock = threading.Lock()
        self.scope_missing = False
        self._learning: ThreadPoolExecutor | None = None

    def learn(self, user_id: str) -> None:
        """Ask for the user's email on a thread of its own, and copy it to their audit rows
        of the last day that lack it: for decisions that send nothing upstream."""
        if not is_person(user_id):
            return
        with self._lock:
            if self._learning is None:
                self._learning = ThreadPoolExecutor(1, thread_name_prefix="actor-emails")
            self._learning.submit(self._learn, user_id)

    def finish(self, timeout: float) -> bool:
        """Let the lookups asked for so far end, then end their thread (shutting down: the
        database is closed next); whether they ended within `timeout` seconds."""
        with self._lock:
            learning, self._learning = self._learning, None
        if learning is None:
            return True
        # One thread takes the queue in order: once this has run, so has all before it.
        last = learning.submit(lambda: None)
        learning.shutdown(wait=False)
        try:
            last.result(timeout)
        except TimeoutError:
            log.warning("a decider's email was still being asked of Slack at shutdown")
            return False
        return True

    def _learn(self, user_id: str) -> None:
        try:
            email = self.email(user_id)
            if email is not None:
                with self.db.session() as session:
                    since = self.clock() - user_emails.MAX_AGE
                    user_emails.fill_audit(session, user_id, email, since=since)
        except Exception:
            log.exception("learning a decider's email failed; their audit rows keep none")

    def check_scope(self) -> None:
        """Say once, at start, when the token lacks the scope (from auth.test's headers)."""
        try:
            granted = granted_scopes(self.client.auth_test())
        except (SlackApiError, SlackClientError, OSError):
            return  # not known yet: users.info will tell
        if granted is not None and SCOPE not in granted:
            self._no_scope()

    def _no_scope(self) -> None:
        with self._lock:
            told, self.scope_missing = self.scope_missing, True
        if not told:
            log.warning(NO_SCOPE)

    def email(self, user_id: str) -> str | None:
        """The user's email as Slack knows it; None when Slack will not or cannot tell."""
        with self.db.read() as session:
            cached = user_emails.known(session, user_id, now=self.clock())
        if cached is not None:
            return cached.email
        if self.scope_missing:
            return None
        try:
            response = self.client.users_info(user=user_id)
        except SlackApiError as exc:
            if exc.response is not None and exc.response.get("error") == "missing_scope":
                self._no_scope()
            else:
                log.warning("users.info failed for a decider (%s); email left unknown", exc)
            return None
        except (SlackClientError, OSError) as exc:
            log.warning("users.info failed (%s); email left unknown", type(exc).__name__)
            return None
        granted = granted_scopes(response)
        if granted is not None and SCOPE not in granted:
            # Slack leaves the email out, rather than refusing, without the scope.
            self._no_scope()
            return None
        profile = (response.get("user") or {}).get("profile") or {}
        email = profile.get("email") if isinstance(profile.get("email"), str) else None
        with self.db.session() as session:
            user_emails.remember(session, user_id, email, now=self.clock())
        return email
