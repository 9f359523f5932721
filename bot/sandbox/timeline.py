"""What each person would see in Slack: channel messages, threads and their private replies.

FakeSlack records what the bot sends. Channel messages and their edits it keeps
itself; private ("ephemeral") replies need more care, because the bot sends them
three ways: in the HTTP answer to a slash command, through `chat.postEphemeral`,
and through a response_url, where `replace_original` rewrites the private reply
the button was on (paging a listing) or the command's "working on it" note. The
timeline follows those rules, orders everything as it arrived, and wakes the page's
long-poll on every change.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.fake_slack import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlack

Json = dict[str, Any]
RECENT_REQUESTS = 30  # the page's request log is a hint of what happened, not an archive
PUMP_SLICE_SECONDS = 0.5


@dataclass
class Ephemeral:
    """A private reply; `filled` is False for a command's reply slot not yet answered."""

    id: str  # ts-like: Slack gives ephemeral messages a message_ts too
    seq: int
    channel: str
    user: str
    origin: str  # the command typed, or "button"
    text: str = ""
    blocks: list[Any] = field(default_factory=list)
    at: float = field(default_factory=time.time)
    filled: bool = False
    replaced: bool = False  # a response_url replace wins over a late HTTP answer
    deleted: bool = False


@dataclass(frozen=True)
class _Bound:
    """What one response_url answers for: who asked, where, and which message it may replace."""

    channel: str
    user: str
    message_ts: str | None  # a channel message: FakeSlack itself applies replace_original
    ephemeral: str | None  # a private reply: the timeline applies replace_original


@dataclass
class _Modal:
    """A modal the bot opened for someone, and what its submission made of it."""

    view_id: str
    user: str
    seq: int
    closed: bool = False
    shown: Json | None = None  # a response_action "update" replaced the bot's view
    errors: Json = field(default_factory=dict)  # response_action "errors", per block_id


def _is_true(value: object) -> bool:
    return value in (True, "true")


class Timeline:
    """Everything the page shows, kept in step with FakeSlack by a thread that waits on it."""

    def __init__(self, fake: FakeSlack) -> None:
        self._fake = fake
        self._cond = threading.Condition()
        self._closed = False
        self.version = 0
        self._seq = itertools.count(1)
        self._order: dict[tuple[str, str], int] = {}  # (channel, ts) -> seq
        # FakeSlack's ts values are made up; the page shows when a message really arrived.
        self._arrived: dict[tuple[str, str], float] = {}
        self._ephemerals: dict[str, Ephemeral] = {}
        self._bound: dict[str, _Bound] = {}
        self._responses_seen = 0
        self._ephemerals_seen = 0
        self._requests: list[Json] = []
        self._modals: dict[str, _Modal] = {}
        self._opened_seen = 0
        self._refused_seen = 0
        # Who clicked for each trigger_id (the relay knows): a modal is that person's.
        self.trigger_owner: Callable[[str], str | None] = lambda _trigger: None
        self._pump = threading.Thread(target=self._follow, name="sandbox-timeline", daemon=True)

    def start(self) -> None:
        self._pump.start()

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._pump.join(5)

    # -- issued to requests --------------------------------------------------

    def response_url(
        self,
        *,
        channel: str,
        user: str,
        message_ts: str | None = None,
        ephemeral: str | None = None,
    ) -> str:
        """A fresh response_url on FakeSlack for one command or click."""
        name = f"sbx-{uuid.uuid4().hex[:12]}"
        with self._cond:
            self._bound[name] = _Bound(channel, user, message_ts, ephemeral)
        return self._fake.response_url(name, channel=channel, ts=message_ts, user=user)

    def open_reply(self, *, channel: str, user: str, origin: str) -> Ephemeral:
        """An empty private reply for a command, filled by its HTTP answer or its response_url."""
        with self._cond:
            self._absorb()  # messages the bot posted before this command come first
            reply = self._new_ephemeral(channel, user, origin)
            self._changed()
            return copy.copy(reply)

    def fill_reply(self, reply_id: str, answer: object) -> None:
        """Show the command's HTTP answer, unless a response_url has already replaced it."""
        if not isinstance(answer, dict):
            return  # an empty ack: the answer, if any, follows through the response_url
        with self._cond:
            self._absorb()
            reply = self._ephemerals.get(reply_id)
            if reply is not None and not reply.replaced and not reply.deleted:
                self._fill(reply, answer)
                self._changed()

    def find_post(self, channel: str, ts: str) -> Json | None:
        """A copy of the channel message (or thread reply) with that ts, or None."""
        return self._fake.find_message(channel, ts)

    def ephemeral(self, ephemeral_id: str) -> Ephemeral | None:
        with self._cond:
            reply = self._ephemerals.get(ephemeral_id)
            return copy.deepcopy(reply) if reply is not None and not reply.deleted else None

    def home(self, user: str) -> Json | None:
        """The Home tab the bot last published for `user`, or None."""
        return self._fake.home(user)

    def modal(self, view_id: str, user: str) -> Json | None:
        """The view of `user`'s open modal `view_id` as it stands, or None."""
        with self._cond:
            self._absorb()
            modal = self._modals.get(view_id)
            if modal is None or modal.user != user or modal.closed:
                return None
            return self._modal_view(modal)

    def modal_answered(self, view_id: str, answer: Any) -> None:
        """Apply the bot's answer to a submission: close, replace the view, or show errors."""
        with self._cond:
            modal = self._modals.get(view_id)
            if modal is None:
                return
            action = answer.get("response_action") if isinstance(answer, dict) else None
            if action == "update" and isinstance(answer.get("view"), dict):
                modal.shown, modal.errors = answer["view"], {}
            elif action == "errors" and isinstance(answer.get("errors"), dict):
                modal.errors = dict(answer["errors"])
            else:  # an empty answer, or "clear": the modal closes
                modal.closed = True
            self._changed()

    def close_modal(self, view_id: str, user: str) -> None:
        """The person pressed Cancel or Close."""
        with self._cond:
            modal = self._modals.get(view_id)
            if modal is not None and modal.user == user:
                modal.closed = True
                self._changed()

    def log_request(self, what: str, status: int, detail: str) -> None:
        """Note a request sent to the bot, for the page's request log.

        `detail` (the bot's answer) is kept only for failures: a successful answer can be
        a private reply, a client secret even, and the log is shown to every person.
        """
        with self._cond:
            entry = {"at": time.strftime("%H:%M:%S"), "what": what, "status": status}
            self._requests.append({**entry, "detail": "" if 200 <= status < 300 else detail})
            del self._requests[:-RECENT_REQUESTS]
            self._changed()

    # -- read by the page ----------------------------------------------------

    def wait(self, since: int, timeout: float) -> int:
        """Block until the version differs from `since`, the timeout ends, or the sandbox stops.

        "Differs", not "exceeds": a page left open across a sandbox restart holds a
        version from the old process and must get the new state at once.
        """
        with self._cond:
            self._cond.wait_for(lambda: self.version != since or self._closed, timeout)
            return self.version

    def snapshot(self, user: str, channels: dict[str, str]) -> Json:
        """The page's whole state as `user` sees it; `channels` names the known channels."""
        with self._cond:
            self._absorb()
            posts = self._fake.all_posts()
            ids = list(channels)
            for channel in [p["channel"] for p in posts] + [
                e.channel for e in self._ephemerals.values() if e.user == user
            ]:
                if channel not in ids:
                    ids.append(channel)
            return {
                "version": self.version,
                "modal": self._open_modal(user),
                "home": self._fake.home(user),
                "channels": [
                    {
                        "id": channel,
                        "name": channels.get(channel, channel),
                        "items": self._items(channel, user, posts),
                    }
                    for channel in ids
                ],
                "requests": list(reversed(self._requests)),
            }

    def _items(self, channel: str, user: str, posts: list[Json]) -> list[Json]:
        here = [p for p in posts if p["channel"] == channel]
        top = [p for p in here if p["thread_ts"] in (None, p["ts"])]
        items: list[tuple[int, Json]] = []
        for post in top:
            replies = [
                {**_shown(r), "at": self._arrived.get((channel, r["ts"]))}
                for r in here
                if r["thread_ts"] == post["ts"] != r["ts"]
            ]
            at = self._arrived.get((channel, post["ts"]))
            shown = {"kind": "message", **_shown(post), "at": at, "replies": replies}
            items.append((self._order.get((channel, post["ts"]), 0), shown))
        for reply in self._ephemerals.values():
            mine = reply.channel == channel and reply.user == user
            if mine and reply.filled and not reply.deleted:
                items.append((reply.seq, _ephemeral_item(reply)))
        return [item for _, item in sorted(items, key=lambda pair: pair[0])]

    def _open_modal(self, user: str) -> Json | None:
        mine = [m for m in self._modals.values() if m.user == user and not m.closed]
        if not mine:
            return None
        modal = max(mine, key=lambda m: m.seq)
        return {"id": modal.view_id, "view": self._modal_view(modal), "errors": modal.errors}

    def _modal_view(self, modal: _Modal) -> Json:
        if modal.shown is not None:
            return copy.deepcopy(modal.shown)
        with self._fake.lock:
            # views.update (a slow answer's outcome) changes the view FakeSlack keeps.
            return copy.deepcopy(self._fake.views.get(modal.view_id) or {})

    # -- following FakeSlack -------------------------------------------------

    def _follow(self) -> None:
        seen = 0
        while True:
            with self._cond:
                if self._closed:
                    return
            version = self._fake.wait_version(seen, PUMP_SLICE_SECONDS)
            if version != seen:
                seen = version
                with self._cond:
                    self._absorb()
                    self._changed()

    def _absorb(self) -> None:
        """Take in what FakeSlack recorded since the last call (the condition is held)."""
        with self._fake.lock:
            posts = [(m["channel"], m["ts"]) for msgs in self._fake.messages.values() for m in msgs]
            responses = copy.deepcopy(self._fake.responses[self._responses_seen :])
            posted = copy.deepcopy(self._fake.ephemerals[self._ephemerals_seen :])
            self._responses_seen += len(responses)
            self._ephemerals_seen += len(posted)
            opened = list(self._fake.opened[self._opened_seen :])
            self._opened_seen += len(opened)
            refused = list(self._fake.refused[self._refused_seen :])
            self._refused_seen += len(refused)
        for refusal in refused:
            # What Slack would have refused, in its words (pointers, never the text itself).
            entry = {"at": time.strftime("%H:%M:%S"), "status": 400}
            entry["what"] = f"Slack refused {refusal.method}: {refusal.error}"
            self._requests.append({**entry, "detail": "; ".join(refusal.messages)[:1000]})
            del self._requests[:-RECENT_REQUESTS]
        for view_id, how in opened:
            owner = self.trigger_owner(str(how.get("trigger_id") or ""))
            if owner is not None:
                self._modals[view_id] = _Modal(view_id, owner, next(self._seq))
        for key in sorted(posts, key=lambda p: float(p[1])):
            if key not in self._order:
                self._order[key] = next(self._seq)
                self._arrived[key] = time.time()
        for name, body in responses:
            bound = self._bound.get(name)
            if bound is not None:
                self._respond(bound, body)
        for entry in posted:
            # response_url replies are taken from `responses` above, with their replace rules.
            if entry.get("source") == "postEphemeral":
                reply = self._new_ephemeral(str(entry["channel"]), str(entry["user"]), "bot")
                self._fill(reply, entry)

    def _respond(self, bound: _Bound, body: Json) -> None:
        target = self._ephemerals.get(bound.ephemeral or "")
        if _is_true(body.get("delete_original")):
            if target is not None:
                target.deleted = True
            return  # a channel message: FakeSlack deleted it
        if _is_true(body.get("replace_original")):
            if target is not None:
                self._fill(target, body)
                target.replaced = True
            return
        if body.get("response_type") == "in_channel":
            return  # FakeSlack posted it to the channel
        origin = target.origin if target is not None else "button"
        self._fill(self._new_ephemeral(bound.channel, bound.user, origin), body)

    def _new_ephemeral(self, channel: str, user: str, origin: str) -> Ephemeral:
        seq = next(self._seq)
        reply = Ephemeral(f"{int(time.time())}.{seq:06d}", seq, channel, user, origin)
        self._ephemerals[reply.id] = reply
        return reply

    @staticmethod
    def _fill(reply: Ephemeral, body: Json) -> None:
        blocks = body.get("blocks")
        reply.text = str(body.get("text") or "")
        reply.blocks = blocks if isinstance(blocks, list) else []
        reply.filled = bool(reply.text or reply.blocks)

    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()


def _shown(post: Json) -> Json:
    return {
        "ts": post["ts"],
        "text": post["text"],
        "blocks": post["blocks"],
        "edited": post["edits"] > 0,
    }


def _ephemeral_item(reply: Ephemeral) -> Json:
    return {
        "kind": "ephemeral",
        "ts": reply.id,
        "at": reply.at,
        "text": reply.text,
        "blocks": reply.blocks,
        "origin": reply.origin,
    }


def message_payload(post: Json) -> Json:
    """The `message` field of a block_actions payload: the message as Slack shows it."""
    return {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "team": TEAM_ID,
        "ts": post["ts"],
        "text": post["text"],
        "blocks": post["blocks"],
        **({"thread_ts": post["thread_ts"]} if post.get("thread_ts") else {}),
    }
