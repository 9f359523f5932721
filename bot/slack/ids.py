"""Every action_id and block_id the bot uses, and the button values that views write."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from store.lifecycle import Action
from store.queries.results import Cursor

VALUE_MAX = 2000  # Slack's limit on a button value
PAGE_ARG_MAX = 500


class ActionId(StrEnum):
    APPROVE = "simsid_approve"
    ENABLE = "simsid_enable"
    DISABLE = "simsid_disable"
    REMOVE = "simsid_remove"
    # Slack wants action_ids unique within an actions block, so Previous and Next
    # differ; both carry where the page starts or ends and are handled the same way.
    PAGE = "simsid_page"
    PAGE_PREVIOUS = "simsid_page_previous"
    DISABLE_ALL = "simsid_disable_all"
    RETRY_UPSTREAM = "simsid_retry_upstream"
    # The two-person rule for Remove (SIMSID_REMOVE_APPROVALS=2).
    CONFIRM_REMOVAL = "simsid_confirm_removal"
    CANCEL_REMOVAL = "simsid_cancel_removal"
    REASON_INPUT = "simsid_reason_text"  # the text field of the reason modal
    UNTIL_INPUT = "simsid_until_picker"  # the end of a maintenance window, in the same modal
    EXTEND = "simsid_extend"  # move the end of an installation's maintenance window
    DECIDE_LIST = "simsid_decide_list"  # "Approve from a list": opens the list modal
    DECIDE_IDS_INPUT = "simsid_decide_ids_text"  # a text field of the list modal


class BlockId(StrEnum):
    INSTALL_ACTIONS = "simsid_install"  # a prefix: one block per installation, see install_block_id
    PAGER = "simsid_pager"
    CUSTOMER_ACTIONS = "simsid_customer"
    UPSTREAM_ACTIONS = "simsid_upstream"
    REASON = "simsid_reason"  # the reason modal's input block
    UNTIL = "simsid_until"  # its datetimepicker: when to enable again (optional)
    HOME_NOTICE = "simsid_home_notice"
    DECIDE_APPS = "simsid_decide_apps"  # the App Home's "from a list" buttons
    DECIDE_IDS = "simsid_decide_ids"  # a prefix: the list modal's fields, see decide_ids_block


class CallbackId(StrEnum):
    """The callback_id of each modal the bot opens."""

    REASON = "simsid_reason"  # Disable, Remove or "Disable all", asking why
    OUTCOME = "simsid_outcome"  # what happened instead, shown in place of a stale modal
    DECIDE_LIST = "simsid_decide_list"  # decide from a list: the pasted list
    DECIDE_CONFIRM = "simsid_decide_confirm"  # decide from a list: its preview, to confirm


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
_SITE_ESCAPE = re.compile(r"[%&<>]")


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


@dataclass(frozen=True)
class PageRef:
    """What a paging button asks for: a listing, and the page after or before an item."""

    command: str
    arg: str
    after: Cursor | None = None
    before: Cursor | None = None


def _page_json(command: str, arg: str, key: str, cursor: Cursor | None) -> str:
    data: dict[str, object] = {"c": command, "a": arg}
    if cursor is not None:
        data[key] = list(cursor)
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # Slack echoes values verbatim; keep mrkdwn control characters out of them anyway.
    return value.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def encode_page(
    command: str, arg: str, *, after: Cursor | None = None, before: Cursor | None = None
) -> str:
    """A paging button's value: compact JSON, always under Slack's 2,000 characters.

    It carries the (sort key, id) of the item the page starts after (Next) or ends
    before (Previous), never an offset.
    """
    if after is not None and before is not None:
        raise ValueError("a page starts after an item or ends before one, not both")
    key, cursor = ("p", before) if before is not None else ("n", after)
    arg = arg[:PAGE_ARG_MAX]
    while True:
        value = _page_json(command, arg, key, cursor)
        if len(value) < VALUE_MAX:
            return value
        if arg:
            # Escapes can make 500 characters of text longer than the limit.
            arg = arg[: len(arg) // 2]
        elif cursor is None:
            raise ValueError("command too long for a button value")
        elif key == "n" and isinstance(cursor[0], str) and cursor[0]:
            # A shorter sort key sorts no later: the next page may repeat an item, never
            # skip one.
            cursor = (cursor[0][: len(cursor[0]) // 2], cursor[1])
        else:
            cursor = None  # back to the first page rather than skip items


def _cursor(value: object) -> Cursor:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(type(part) in (str, int) for part in value)
    ):
        raise ValueError("not a page value")
    return (value[0], value[1])


def decode_page(value: object) -> PageRef:
    """What a paging button's value asks for; ValueError if it is not one.

    Values of messages posted before keyset paging (an offset, "o") open the first page.
    """
    if not isinstance(value, str):
        raise ValueError("not a page value")
    data = json.loads(value)  # JSONDecodeError is a ValueError
    if not isinstance(data, dict) or not {"c", "a"} <= set(data):
        raise ValueError("not a page value")
    command, arg = data["c"], data["a"]
    if not isinstance(command, str) or not isinstance(arg, str):
        raise ValueError("not a page value")
    extra = set(data) - {"c", "a"}
    if not extra:
        return PageRef(command, arg)
    if extra == {"n"}:
        return PageRef(command, arg, after=_cursor(data["n"]))
    if extra == {"p"}:
        return PageRef(command, arg, before=_cursor(data["p"]))
    if extra == {"o"} and type(data["o"]) is int and data["o"] >= 0:
        return PageRef(command, arg)
    raise ValueError("not a page value")


def encode_site(site_id: str) -> str:
    """A site id with `%`, `&`, `<` and `>` percent-encoded: SIMS ID chooses it, so it may
    hold anything; decode_site() unquotes it (and the fully quoted values of older messages).
    """
    # Quoting every non-ASCII character made a 200-character id (the schema's limit)
    # up to 2,400 characters long, over Slack's limit on a button value.
    value = _SITE_ESCAPE.sub(lambda m: f"%{ord(m[0]):02X}", site_id)
    try:
        value.encode("utf-8")
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


REASON_KINDS = ("disable", "remove", "disable_all", "extend")


@dataclass(frozen=True)
class ReasonAsk:
    """What a reason modal will do once submitted, carried in its private_metadata.

    `kind` is "disable", "remove" or "extend" (a maintenance window's end: an installation
    at the version the person saw) or "disable_all" (a customer, and `enabled`: the
    (installation id, version) of each of its applications enabled when the form opened,
    all that sending it may disable);
    `response_url` is the private listing the click came from, where the outcome is
    told; `home` says it came from the App Home tab.
    """

    kind: str
    installation_id: int | None = None
    version: int | None = None
    site_id: str | None = None
    response_url: str | None = None
    home: bool = False
    enabled: tuple[tuple[int, int], ...] = ()


METADATA_MAX = 3000  # Slack's limit on a view's private_metadata


def encode_reason_ask(ask: ReasonAsk) -> str:
    """Compact JSON for private_metadata; a response_url that would not fit is left out."""
    data: dict[str, object] = {"k": ask.kind}
    if ask.installation_id is not None:
        data.update(i=ask.installation_id, v=ask.version)
    if ask.site_id is not None:
        data["s"] = ask.site_id
    if ask.kind == "disable_all":
        data["e"] = [list(pair) for pair in ask.enabled]
    if ask.home:
        data["h"] = 1
    value = json.dumps(data, separators=(",", ":"))
    if ask.response_url:
        with_url = json.dumps({**data, "r": ask.response_url}, separators=(",", ":"))
        if len(with_url) <= METADATA_MAX:
            value = with_url
    if len(value) > METADATA_MAX:
        raise ValueError("too long for a view's private_metadata")
    return value


def decode_reason_ask(value: object) -> ReasonAsk:
    """The ReasonAsk of a submitted modal; ValueError if the metadata is not one."""
    if not isinstance(value, str):
        raise ValueError("not a reason ask")
    data = json.loads(value)  # JSONDecodeError is a ValueError
    if not isinstance(data, dict) or data.get("k") not in REASON_KINDS:
        raise ValueError("not a reason ask")
    kind = data["k"]
    installation_id, version = data.get("i"), data.get("v")
    site_id, response_url = data.get("s"), data.get("r")
    enabled = data.get("e", [])
    if kind == "disable_all":
        if not isinstance(site_id, str) or not site_id:
            raise ValueError("not a reason ask")
        # Without the list (a form opened before it was carried) nothing is disabled.
        if not isinstance(enabled, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(type(n) is int for n in p) for p in enabled
        ):
            raise ValueError("not a reason ask")
    elif type(installation_id) is not int or type(version) is not int:
        raise ValueError("not a reason ask")
    if response_url is not None and not isinstance(response_url, str):
        raise ValueError("not a reason ask")
    return ReasonAsk(
        kind=kind,
        installation_id=installation_id if kind != "disable_all" else None,
        version=version if kind != "disable_all" else None,
        site_id=site_id if kind == "disable_all" else None,
        response_url=response_url or None,
        home=data.get("h") == 1,
        enabled=tuple((i, v) for i, v in enabled) if kind == "disable_all" else (),
    )


DECIDE_KINDS = ("approve", "disable")


@dataclass(frozen=True)
class DecideAsk:
    """What a list modal decides: `kind` ("approve" or "disable") of application `app`;
    once previewed, `preview` is the stored preview (store/decide.py) it confirms."""

    kind: str
    app: str
    preview: str | None = None


def decide_ids_block(n: int) -> str:
    """The block_id of the list modal's n-th text field."""
    return f"{BlockId.DECIDE_IDS}:{n}"


def encode_decide(ask: DecideAsk) -> str:
    """A list button's value, or a list modal's private_metadata: compact JSON."""
    data = {"k": ask.kind, "a": ask.app}
    if ask.preview is not None:
        data["p"] = ask.preview
    value = json.dumps(data, separators=(",", ":"))
    # As _page_json: Slack echoes values verbatim; keep mrkdwn control characters out.
    value = value.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    if len(value) > VALUE_MAX:
        raise ValueError("an application id too long for a button value")
    return value


def decode_decide(value: object) -> DecideAsk:
    """The DecideAsk of a list button or modal; ValueError if it is not one."""
    if not isinstance(value, str):
        raise ValueError("not a list ask")
    data = json.loads(value)  # JSONDecodeError is a ValueError
    if not isinstance(data, dict) or data.get("k") not in DECIDE_KINDS:
        raise ValueError("not a list ask")
    app, preview = data.get("a"), data.get("p")
    if not isinstance(app, str) or not app or not (preview is None or isinstance(preview, str)):
        raise ValueError("not a list ask")
    return DecideAsk(kind=data["k"], app=app, preview=preview)
