"""Who can act: a person has a Slack user id's shape; SIMS ID, imports and the bot's own
jobs never do. A leaf module, so the lifecycle and the stores it uses share the rule."""

from __future__ import annotations

import re

# A Slack user id: U (or W on Enterprise Grid), then capitals and digits; at most the
# 64 characters an audit row's actor holds.
_PERSON = re.compile(r"[UW][A-Z0-9]{1,63}")


def is_person(actor: str) -> bool:
    """Whether `actor` has a Slack user id's shape (the two-person rule binds people, not
    SIMS ID); never true of the lifecycle's RESERVED_ACTORS."""
    return _PERSON.fullmatch(actor) is not None
