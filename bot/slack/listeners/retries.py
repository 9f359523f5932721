"""Events API retries: each try answered at once, each event acted on once.

Slack retries an event it thinks went unanswered with the same `event_id` and an
`X-Slack-Retry-Num` header: at once once 3 seconds have passed (even while the first try
is still being answered), then after 1 and 5 minutes. The first try to arrive claims
the event id (in the database, so across processes, as scheduled work is claimed:
store/claims.py) and is acted on; every later try is acked and dropped. A retry whose
first try never arrived (connection_failed) is the first to claim, and is acted on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)

# Slack's event ids are short and alphanumeric ("Ev0PV52K25"); anything else is not
# claimed (it is signed by Slack all the same, so it is acted on).
_EVENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class OnceEach(Middleware):
    """Drops a Slack event whose id an earlier try has claimed; `claim(event_id)` is True
    for the first try to arrive."""

    def __init__(self, claim: Callable[[str], bool]) -> None:
        self._claim = claim

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        """Let the first try of each event through; ack the others with nothing done."""
        body = req.body
        event_id = body.get("event_id")
        if body.get("type") != "event_callback" or not (
            isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)
        ):
            next()
            return resp
        try:
            first = self._claim(event_id)
        except DatabaseUnavailable as exc:  # acting twice beats not acting at all
            log.warning("could not claim Slack event %s (%s): acting on it", event_id, exc)
            first = True
        if first:
            next()
            return resp
        retry = (req.headers.get("x-slack-retry-num") or [""])[0]
        # A header, not part of what Slack signs: only ASCII digits reach the log.
        retry = retry if retry.isascii() and retry.isdigit() else "?"
        log.info("Slack event %s arrived again (retry %s): acked, not acted on", event_id, retry)
        return BoltResponse(status=200, body="")
