"""Slack's lasting refusals, as the delivery loop meets them: told once, retried seldom,
and nothing lost.

- A channel refusing an install message: it goes to the default channel with a line
  saying where it belonged; the default channel is told once per channel and error.
- The default channel (or any channel a reminder, digest or notice goes to) refusing:
  the item is held; the channel is asked again every HOLD_SECONDS by one process.
- The token refused: no delivery calls Slack; one process probes auth.test every
  PROBE_SECONDS, and when it is accepted every queued item goes out.
- A payload refused: the install message goes out in its least form (the caller's part).

The state is in the database (store/refusals.py), so every process shares it and a
restart keeps it; this module keeps a copy refreshed once a pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import metrics
from bot.slack import views
from bot.slack.client import Lasting, classify, error_code, refusal_details
from bot.slack.views.refusals import channel_refused_notice
from store import outbox, refusals
from store.db import Database
from store.models import utcnow
from store.queries import InstallationInfo

log = logging.getLogger(__name__)

# A refused channel is asked again this often (by one process of them all).
HOLD_SECONDS = 180.0
# A refused token: one auth.test this often.
PROBE_SECONDS = 60.0


class Refused(Exception):
    """Slack refused a call for good; `channel` is where it was sent, if anywhere."""

    def __init__(self, kind: Lasting, error: str, channel: str | None, details: list[str]):
        super().__init__(f"{kind}: {error}")
        self.kind = kind
        self.error = error
        self.channel = channel
        self.details = details

    @classmethod
    def from_error(cls, exc: SlackApiError, channel: object) -> Refused | None:
        """The lasting refusal `exc` is, else None (retried as before)."""
        kind = classify(exc)
        if kind is None:
            return None
        where = str(channel) if isinstance(channel, str) and channel else None
        return cls(kind, error_code(exc), where, refusal_details(exc))


class Held(Exception):
    """No call was made: the target is refused and not due to be asked again."""

    def __init__(self, target: str, error: str, until: datetime) -> None:
        super().__init__(f"{target} refused ({error}) until {until.isoformat()}")
        self.target = target
        self.error = error
        self.until = until


@dataclass
class Refusals:
    """What the delivery loop knows of Slack's lasting refusals, and what it does about them."""

    db: Database
    client: WebClient
    default_channel: str | None
    clock: Callable[[], datetime] = utcnow
    hold_seconds: float = HOLD_SECONDS
    probe_seconds: float = PROBE_SECONDS
    _known: dict[str, refusals.Refused] = field(default_factory=dict)
    # A process starting (perhaps with a new token) probes at once, not a minute later.
    _probed: bool = False
    _bot_user: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Tries won by a gate asked ahead of the post that makes them.
    _granted: set[str] = field(default_factory=set)
    # Installations whose full message Slack refused: not sent as is again by this process.
    minimal: set[int] = field(default_factory=set)

    # -- once a pass ---------------------------------------------------------------

    def refresh(self) -> None:
        """Read the refusals standing (a few rows) for this pass."""
        with self.db.read() as session:
            known = {r.target: r for r in refusals.active(session)}
        with self._lock:
            self._known = known

    def paused(self) -> bool:
        """True while the token is refused (after probing it, when a probe is due): deliveries
        must not call Slack."""
        known = self._known.get(refusals.CREDENTIALS)
        if known is None:
            return False
        now = self.clock()
        if self._probed:
            if known.next_try_at > now:
                return True
            with self.db.session() as session:
                won = refusals.take_try(
                    session, refusals.CREDENTIALS, now=now, hold=self.probe_seconds
                )
            if not won:
                return True  # another process probes this time
        self._probed = True
        try:
            self.client.auth_test()
        except SlackApiError as exc:
            metrics.slack_api_error("auth.test", error_code(exc))
            if classify(exc) is Lasting.TOKEN:
                self.token_refused(error_code(exc))
            return True
        except (SlackClientError, OSError):
            return True  # Slack unreachable: the token may still be good; ask again later
        self.cleared(refusals.CREDENTIALS)
        return False

    @property
    def token_refused_now(self) -> bool:
        """The token was refused (as of this pass, or during it)."""
        return refusals.CREDENTIALS in self._known

    # -- recording -----------------------------------------------------------------

    def _record(self, target: str, error: str, hold: float) -> bool:
        now = self.clock()
        with self.db.session() as session:
            news = refusals.record(session, target, error, now=now, hold=hold)
        with self._lock:
            old = self._known.get(target)
            self._known[target] = refusals.Refused(
                target,
                error,
                old.since if old and not news else now,
                now + timedelta(seconds=hold),
                None if news or old is None else old.told_at,
            )
        return news

    def token_refused(self, error: str) -> None:
        """Slack refused the token (or said it was revoked): pause deliveries."""
        if self._record(refusals.CREDENTIALS, error, self.probe_seconds):
            log.error(
                "Slack refuses the bot token (%s): deliveries paused and kept; auth.test is "
                "tried every %.0f s, and everything queued goes out once it is accepted",
                error,
                self.probe_seconds,
            )
        self._probed = True

    def channel_refused(self, channel: str, error: str) -> None:
        """Slack refused posts to `channel`; said once per channel and error."""
        if self._record(refusals.channel_target(channel), error, self.hold_seconds):
            where = "the default channel" if channel == self.default_channel else "channel"
            log.error(
                "Slack refuses posts to %s %s (%s): %s",
                where,
                channel,
                error,
                "items are kept and asked again every few minutes"
                if channel == self.default_channel or not self.default_channel
                else "install messages go to the default channel instead",
            )

    def cleared(self, target: str) -> None:
        """A call to `target` succeeded: forget its refusal, and send what it held now."""
        with self._lock:
            known = target in self._known
            self._known.pop(target, None)
        if not known:
            return
        with self.db.session() as session:
            was = refusals.clear(session, target, now=self.clock())
        if was:
            what = channel if (channel := refusals.channel_of(target)) else "the bot token"
            log.warning("Slack accepts %s again: what it held goes out now", what)

    def hold(self, item: outbox.Claimed, target: str, error: str, until: datetime) -> None:
        """Give the item back, held by `target`'s refusal until `until`."""
        with self.db.session() as session:
            refusals.hold(session, item.id, target, error, until=until)

    # -- deciding ------------------------------------------------------------------

    def gate(self, channel: str, *, ahead: bool = False) -> None:
        """Raise Held unless posting to `channel` may be tried now: it is not refused, or
        its next try is due and this process won it. `ahead`: asked before the post itself,
        which then passes the gate once more."""
        target = refusals.channel_target(channel)
        known = self._known.get(target)
        if known is None:
            return
        if target in self._granted:
            self._granted.discard(target)
            return
        now = self.clock()
        if known.next_try_at <= now:
            with self.db.session() as session:
                won = refusals.take_try(session, target, now=now, hold=self.hold_seconds)
            next_try = now + timedelta(seconds=self.hold_seconds)
            with self._lock:
                self._known[target] = refusals.Refused(
                    target, known.error, known.since, next_try, known.told_at
                )
            if won:
                if ahead:
                    self._granted.add(target)
                return
            raise Held(target, known.error, next_try)
        raise Held(target, known.error, known.next_try_at)

    def refused(self, channel: str) -> str | None:
        """Slack's error for `channel`, if it is refused."""
        known = self._known.get(refusals.channel_target(channel))
        return known.error if known else None

    def elsewhere(self, info: InstallationInfo, posted_in: str) -> tuple[str, str | None] | None:
        """(the app's channel, why) when the message is in the default channel instead."""
        own = info.app.channel
        if own and posted_in != own and posted_in == self.default_channel:
            return own, self.refused(own)
        return None

    # -- telling -------------------------------------------------------------------

    def tell(self, channel: str, error: str, post: Callable[[str, views.Message], object]) -> None:
        """Tell the default channel, once per channel and error, what is wrong and the fix."""
        if not self.default_channel:
            return
        target = refusals.channel_target(channel)
        with self.db.session() as session:
            if not refusals.claim_telling(session, target, error, now=self.clock()):
                return
        try:
            self.gate(self.default_channel, ahead=True)  # refused too: say nothing there now
            post(self.default_channel, channel_refused_notice(channel, error, self._bot()))
        except (Refused, Held, SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not tell the default channel of %s: %s", channel, exc)
            with self.db.session() as session:
                refusals.untell(session, target)

    def _bot(self) -> str | None:
        if self._bot_user is None:
            try:
                self._bot_user = str(self.client.auth_test().get("user_id") or "") or None
            except (SlackApiError, SlackClientError, OSError):
                return None
        return self._bot_user


def log_payload_refused(what: str, refused: Refused) -> None:
    """What Slack found wrong in a payload, kept in the log (once: it is not sent again)."""
    log.error(
        "Slack refused %s (%s): %s",
        what,
        refused.error,
        "; ".join(refused.details) or "no details given",
    )
