"""Every action_id and block_id the bot uses, and the button values that views write."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from urllib.parse import quote, unquote

from store.lifecycle import Action

VALUE_MAX = 2000  # Slack's limit on a button value
PAGE_ARG_MAX = 500


class ActionId(StrEnum):
    APPROVE = "simsid_approve"
    ENABLE = "simsid_enable"
    DISABLE = "simsid_disable"
    REMOVE = "simsid_remove"
    # Slack wants action_ids unique within an actions block, so Previous and Next
    # differ; both carry the target offset and are handled the same way.
    PAGE = "simsid_page"
    PAGE_PREVIOUS = "simsid_page_previous"
    DISABLE_ALL = "simsid_disable_all"
    RETRY_UPSTREAM = "simsid_retry_upstream"


class BlockId(StrEnum):
    INSTALL_ACTIONS = "simsid_install"  # a prefix: one block per installation, see install_block_id
    PAGER = "simsid_pager"
    CUSTOMER_ACTIONS = "simsid_customer"
    UPSTREAM_ACTIONS = "simsid_upstream"


# The installation buttons and the lifecycle action each one asks for.
INSTALLATION_ACTIONS: dict[ActionId, Action] = {
    ActionId.APPROVE: Action.APPROVE,
    ActionId.ENABLE: Action.ENABLE,
    ActionId.DISABLE: Action.DISABLE,
    ActionId.REMOVE: Action.REMOVE,
}
BUTTON_FOR: dict[Action, ActionId] = {action: aid for aid, action in INSTALLATION_ACTIONS.items()}
PAGE_ACTIONS = (ActionId.PAGE, ActionId.PAGE_PREVIOUS)

_INSTALLATION = re.compile(r"([0-9]{1,18}):([0-9]{1,18})")
_NUMBER = re.compile(r"[0-9]{1,18}")


def install_block_id(installation_id: int) -> str:
    """The block_id of one installation's buttons, unique within any message."""
    return f"{BlockId.INSTALL_ACTIONS}:{installation_id}"


def encode_installation(installation_id: int, version: int) -> str:
    return f"{installation_id}:{version}"


def decode_installation(value: object) -> tuple[int, int]:
    """(installation id, version) from a button value; ValueError if it is not one."""
    match = _INSTALLATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not an installation value: {value!r:.80}")
    return int(match[1]), int(match[2])


def encode_page(command: str, arg: str, offset: int) -> str:
    """A paging button's value: compact JSON, always under Slack's 2,000 characters."""
    if offset < 0:
        raise ValueError("offset must not be negative")
    arg = arg[:PAGE_ARG_MAX]
    while True:
        value = json.dumps({"c": command, "a": arg, "o": offset}, separators=(",", ":"))
        # Slack echoes values verbatim; keep mrkdwn control characters out of them anyway.
        value = value.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
        if len(value) < VALUE_MAX:
            return value
        if not arg:
            raise ValueError("command too long for a button value")
        # Escapes (\uXXXX) can make 500 characters of text longer than the limit.
        arg = arg[: len(arg) // 2]


def decode_page(value: object) -> tuple[str, str, int]:
    """(command, arg, offset) from a paging button's value; ValueError if it is not one."""
    if not isinstance(value, str):
        raise ValueError("not a page value")
    data = json.loads(value)  # JSONDecodeError is a ValueError
    if not isinstance(data, dict) or set(data) != {"c", "a", "o"}:
        raise ValueError("not a page value")
    command, arg, offset = data["c"], data["a"], data["o"]
    if (
        not isinstance(command, str)
        or not isinstance(arg, str)
        or type(offset) is not int
        or offset < 0
    ):
        raise ValueError("not a page value")
    return command, arg, offset


def encode_site(site_id: str) -> str:
    """A site id, percent-encoded: SIMS ID chooses it, so it may hold anything."""
    try:
        value = quote(site_id, safe="")
    except UnicodeEncodeError as error:
        raise ValueError("a site id must be valid text") from error
    if not value or len(value) > VALUE_MAX:
        raise ValueError("a site id must fit a button value")
    return value


def decode_site(value: object) -> str:
    """The site id of a "Disable all" button; ValueError if empty or not text."""
    if not isinstance(value, str) or not value or len(value) > VALUE_MAX:
        raise ValueError("not a site value")
    return unquote(value, errors="strict")  # UnicodeDecodeError is a ValueError


def encode_outbox(outbox_id: int) -> str:
    return str(outbox_id)


def decode_outbox(value: object) -> int:
    """The outbox row of a Retry button; ValueError if it is not a number."""
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise ValueError(f"not an outbox value: {value!r:.80}")
    return int(value)
