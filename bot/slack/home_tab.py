"""The App Home tab: built from the store for one person and published with views.publish."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack import views
from bot.slack.admins import Access, Admins
from store import queries, refusals, windows
from store.db import Database
from store.models import utcnow

log = logging.getLogger(__name__)

HOME_ROWS = 10
# Every live maintenance window, whenever it ends.
ALWAYS = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
APPS_SHOWN = 30


@dataclass
class HomeTab:
    """Admins see the dashboard, approvers that of their applications; anyone else what
    the bot is and whom to ask."""

    db: Database
    admins: Admins
    client: WebClient
    tz: ZoneInfo
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    clock: Callable[[], datetime] = field(default=utcnow)
    default_channel: str | None = None
    # Approvers see the dashboard of their applications; None: admins only.
    access: Access | None = None

    def render(self, user: str, notice: str | None = None) -> dict[str, Any]:
        """The Home tab for `user`; `notice` (what their last click did) goes first."""
        only = (
            self.access.apps_of(user)
            if self.access is not None
            else (None if self.admins.is_admin(user) else frozenset())
        )
        if only is not None and not only:
            return views.visitor_home(self.users, self.groups, notice)
        with self.db.read() as session:
            apps = queries.app_summaries(session, limit=APPS_SHOWN, only=only)
            waiting = queries.pending(session, limit=HOME_ROWS, only=only)
            requests = queries.removal_requests(session, limit=HOME_ROWS, only=only)
            decisions = queries.latest_decisions(session, limit=HOME_ROWS, only=only)
            standing = refusals.active(session)
            ending = windows.ending_between(session, ALWAYS[0], ALWAYS[1], limit=HOME_ROWS)[0]
            maintenance = [queries.installation(session, e.installation_id) for e in ending]
        trouble = None
        for refused in standing:
            channel = refusals.channel_of(refused.target)
            if channel is None or channel == self.default_channel:
                trouble = views.delivery_trouble(channel, refused.error)
                break
        return views.admin_home(
            apps=apps.items,
            more_apps=apps.has_more,
            waiting=waiting.items,
            more_waiting=waiting.has_more,
            requests=requests,
            decisions=decisions,
            maintenance=[
                info
                for info in maintenance
                if info is not None and (only is None or info.app.id in only)
            ],
            tz=self.tz,
            now=self.clock(),
            notice=notice,
            trouble=trouble,
        )

    def publish(self, user: str, notice: str | None = None) -> bool:
        """Publish the tab for `user`; False (logged) when Slack would not take it."""
        if not user:
            return False
        try:
            self.client.views_publish(user_id=user, view=self.render(user, notice))
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not publish the Home tab: %s", type(exc).__name__)
            return False
        return True
