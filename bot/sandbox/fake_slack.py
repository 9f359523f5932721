"""A local HTTP server that stands in for Slack's Web API and response_url.

Tests, benchmarks and the browser sandbox point
``slack_sdk.WebClient(base_url=fs.api_url)`` at it. It answers the methods the
bot uses the way Slack does (HTTP 200 with ``ok: false`` for API errors, 429
with ``Retry-After`` when rate limited), records what it is sent, and can be
told to misbehave. Only the network is faked: the bot's own client code runs
unchanged. The sandbox ships it; `serve` and `worker` never import it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from bot.sandbox.blockkit import message_problems, view_problems
from bot.sandbox.loopback import Loopback

log = logging.getLogger(__name__)

Params = dict[str, Any]
Message = dict[str, Any]
StubResponse = tuple[int, dict[str, str], Params]

TEAM_ID = "T0SANDBOX"
# What the stand-in grants by default: every bot scope manifest.yml asks for.
GRANTED_SCOPES = frozenset(
    {"commands", "chat:write", "chat:write.public", "usergroups:read", "channels:read"}
    | {"groups:read", "users:read", "users:read.email"}
)
# The scope each read method needs (conversations.info takes either: public or private).
_READ_SCOPES = {
    "conversations.info": ("channels:read", "groups:read"),
    "users.info": ("users:read",),
    "usergroups.users.list": ("usergroups:read",),
}
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
# Deterministic timestamps keep test output stable; Slack's ts is "seconds.micros".
_TS_EPOCH = 1795770000
_TS_STEP = 100


class _ApiError(Exception):
    """An ``ok: false`` answer, raised inside a method handler: the error and, for a payload
    Slack refuses, what its ``response_metadata.messages`` say."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []

    def answer(self) -> Params:
        body: Params = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


class Refusal(NamedTuple):
    """A payload refused as Slack would refuse it: where it was sent, the error, and why."""

    method: str  # the API method, or "response_url"
    error: str
    messages: list[str]


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    retry_after: int | None  # set only for 429s
    error: str = "fatal_error"


@dataclass
class _Refusals:
    """The lasting refusals the stand-in was told to make (refuse_channel and the like)."""

    channels: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    payload: tuple[str, int, str] | None = None

    def answer(self, method: str, params: Params) -> Params | None:
        if self.token is not None and method != "apps.connections.open":
            return {"ok": False, "error": self.token}
        if method not in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            return None
        error = self.channels.get(str(params.get("channel") or ""))
        if error is not None:
            return {"ok": False, "error": error}
        blocks = params.get("blocks")
        if self.payload is not None and isinstance(blocks, list):
            error, most, why = self.payload
            if len(blocks) > most and method != "chat.postEphemeral":
                messages = [why or f"[ERROR] more than {most} blocks [json-pointer:/blocks]"]
                return {"ok": False, "error": error, "response_metadata": {"messages": messages}}
        return None


class _Target(NamedTuple):
    """What a response_url was issued for: the message it may replace, the user it answers."""

    channel: str | None = None
    ts: str | None = None
    user: str | None = None


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: with 16 users' clicks each opening a form,
    # connections beyond it would be reset and slack_sdk would retry them a second later,
    # a delay Slack itself never causes.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_POST  # slack_sdk sends everything as POST; GET is for poking with a browser

    def log_message(self, format: str, *args: object) -> None:
        pass  # fs.calls is the log; stderr noise would drown pytest's output

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/api/"):
            params: Params = dict(parse_qsl(url.query))
            try:
                params.update(_parse_body(raw, self.headers.get("Content-Type", "")))
            except ValueError:
                self._send(200, {"ok": False, "error": "invalid_json"})
                return
            auth = self.headers.get("Authorization", "")
            status, headers, body = self.server.fake._handle_api(url.path[5:], params, auth)
            self._send(status, body, headers)
        elif url.path.startswith("/response/") and self.command == "POST":
            self._send(*self.server.fake._handle_response(url.path[10:], raw))
        else:
            self._send(404, {"ok": False, "error": "not_found"})

    def _send(self, status: int, body: Params | str, headers: dict[str, str] | None = None) -> None:
        # Web API answers are JSON; response_url answers plain text, as Slack's do.
        is_text = isinstance(body, str)
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if is_text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _parse_body(raw: bytes, content_type: str) -> Params:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("JSON body is not an object")
        return body
    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


def _normalise(params: Params) -> Params:
    """Blocks as a list, whether they came as JSON or as a form field holding JSON."""
    out = dict(params)
    if isinstance(out.get("blocks"), str):
        # Unparseable blocks stay a string, and the method answers invalid_blocks_format.
        with contextlib.suppress(ValueError):
            out["blocks"] = json.loads(out["blocks"])
    return out


def _arg(params: Params, key: str, error: str | None = None) -> str:
    """A parameter as a string; with ``error``, a missing one is that API error."""
    value = str(params.get(key) or "")
    if not value and error:
        raise _ApiError(error)
    return value


def _blocks(params: Params) -> list[Any] | None:
    blocks = params.get("blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise _ApiError("invalid_blocks_format")
    return blocks


# Slack answers a view it refuses with invalid_arguments, a message with invalid_blocks;
# both say why in response_metadata.messages.
_REFUSED = ("invalid_blocks", "invalid_arguments")


_CHECKED_MAX = 4096
_checked: OrderedDict[tuple[str, bytes], tuple[str, ...]] = OrderedDict()
_checked_lock = threading.Lock()


def _problems(kind: str, payload: Params) -> tuple[str, ...]:
    """What Slack would refuse in a payload ("message", or the view type it must be).

    Remembered by a digest of the payload: benchmarks send the same listing or Home tab
    again and again, and the check costs milliseconds where the rest costs microseconds.
    """
    text = json.dumps(payload, sort_keys=True).encode()
    key = (kind, hashlib.blake2b(text, digest_size=16).digest())
    with _checked_lock:
        if key in _checked:
            _checked.move_to_end(key)
            return _checked[key]
    found = message_problems(payload) if kind == "message" else view_problems(payload, kind)
    with _checked_lock:
        _checked[key] = tuple(found)
        if len(_checked) > _CHECKED_MAX:
            _checked.popitem(last=False)
    return tuple(found)


def _view(params: Params, kind: str) -> Params:
    """The ``view`` argument, checked as Slack checks it; JSON in a form field is parsed."""
    view = params.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            raise _ApiError("invalid_arguments") from None
    if not isinstance(view, dict) or view.get("type") != kind:
        raise _ApiError("invalid_arguments")
    problems = _problems(kind, view)
    if problems:
        raise _ApiError("invalid_arguments", list(problems))
    return view


def _accepted(params: Params) -> None:
    """Raise Slack's refusal if the message's text or blocks would be refused."""
    body = {key: params[key] for key in ("text", "blocks") if params.get(key) is not None}
    problems = _problems("message", body)
    if problems:
        too_long = all(p.endswith("[json-pointer:/text]") for p in problems)
        error = "msg_too_long" if too_long else "invalid_blocks"
        raise _ApiError(error, list(problems))


def _content(params: Params) -> tuple[str, list[Any]]:
    text, blocks = _arg(params, "text"), _blocks(params) or []
    if not text and not blocks:
        raise _ApiError("no_text")
    _accepted(params)
    return text, blocks


class FakeSlack:
    """Slack's Web API and response_url endpoints on 127.0.0.1, with recorded state.

    ``calls`` holds every API request as (method, params), failed ones included and
    the token left out; ``messages`` maps a channel to its posts and thread replies;
    ``ephemerals`` holds private replies; ``responses`` every response_url post as
    (name, body); ``rate_limited_count`` counts the 429s sent; ``views`` every modal
    and Home tab by view id, ``opened`` the modals in the order opened and ``homes``
    each user's published Home tab. All of it is guarded by
    ``lock``: read it under the lock, or through the helpers, which return copies.

    Every message, ephemeral, response_url post and view is checked as Slack checks it
    (bot/sandbox/blockkit.py): one Slack would refuse is answered ``invalid_blocks`` (a view:
    ``invalid_arguments``) with Slack's ``response_metadata.messages``, is not shown, and is
    kept in ``refused`` (see ``refusals()``), so a test passes only on what Slack accepts.
    """

    def __init__(self, token: str = "xoxb-test", port: int = 0, host: str = "127.0.0.1") -> None:  # noqa: S107  (test token)
        self.token = token
        self.host = host
        self._loopback = Loopback(lambda address: _Server(address, self), host, port)
        # Re-entrant, so wait_for() predicates may call the helpers while waiting holds it.
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self.version = 0
        self.delay = 0.0
        self.usergroups: dict[str, list[str]] = {}
        # Socket Mode: apps.connections.open (with this app-level token) hands out this URL.
        self.app_token = "xapp-test"  # noqa: S105  (a test token, not a secret)
        self.socket_mode_url: str | None = None
        self.calls: list[tuple[str, Params]] = []
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[Params] = []
        self.responses: list[tuple[str, Params]] = []
        self.rate_limited_count = 0
        self.refused: list[Refusal] = []
        # views.open / views.update / views.push: every view by id, and the order opened;
        # views.publish: each user's Home tab as last published.
        self.views: dict[str, Params] = {}
        self.opened: list[tuple[str, Params]] = []
        self.homes: dict[str, Params] = {}
        self._ts_counter = 0
        self._view_counter = 0
        self._faults: list[_Fault] = []
        self._targets: dict[str, _Target] = {}
        self._channel_rate: tuple[float, int] | None = None
        self._buckets: dict[str, tuple[float, float]] = {}
        self._setup_init()
        self._refusals = _Refusals()
        self._methods: dict[str, Callable[[Params], Params]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._get_permalink,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "apps.connections.open": self._connections_open,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    def start(self) -> FakeSlack:
        """Bind and serve in a daemon thread; returns self. Calling it again does nothing."""
        self.accept_connections()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Recorded state is kept."""
        self.refuse_connections()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def refuse_connections(self) -> None:
        """Close the listening socket: clients get "connection refused" until accepted again."""
        self._loopback.down()

    def accept_connections(self) -> None:
        """Listen (again), on the same port as before."""
        self._loopback.up()

    @property
    def port(self) -> int:
        """The bound port (fixed once start() has run)."""
        if self._loopback.port == 0:
            raise RuntimeError("FakeSlack has no port yet: call start() first")
        return self._loopback.port

    @property
    def api_url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``; the client appends the method name."""
        return f"http://{self.host}:{self.port}/api/"

    def response_url(
        self,
        name: str,
        *,
        channel: str | None = None,
        ts: str | None = None,
        user: str | None = None,
    ) -> str:
        """A response_url for a payload; given channel and ts, replace_original edits that message.

        ``user`` is who the ephemeral replies sent to it are recorded for.
        """
        with self._cond:
            self._targets[name] = _Target(channel, ts, user)
        return f"http://{self.host}:{self.port}/response/{name}"

    def fail_next(
        self, count: int, status: int = 500, method: str | None = None, error: str = "fatal_error"
    ) -> None:
        """The next ``count`` API calls (of ``method``, or any) answer ``status`` and
        ``ok: false`` with ``error`` (status 200 with an error is how Slack says no)."""
        with self._cond:
            if count > 0:
                self._faults.append(_Fault(count, status, method, None, error))

    def rate_limit_next(self, count: int, retry_after: int = 1, method: str | None = None) -> None:
        """The next ``count`` API calls (of ``method``, or any) answer 429 with ``Retry-After``."""
        with self._cond:
            if count > 0:
                self._faults.append(_Fault(count, 429, method, retry_after))

    def enforce_channel_rate(self, per_second: float | None = 1.0, burst: int = 1) -> None:
        """Rate-limit chat.postMessage per channel like Slack (token bucket); None turns it off."""
        with self._cond:
            self._channel_rate = None if per_second is None else (per_second, burst)
            self._buckets.clear()

    def refuse_channel(self, channel: str, error: str | None = "not_in_channel") -> None:
        """Posts and edits in ``channel`` answer ``error`` (``channel_not_found``,
        ``is_archived``…) as Slack does for good; None accepts them again (the bot invited)."""
        with self._cond:
            self._refusals.channels.pop(channel, None)
            if error is not None:
                self._refusals.channels[channel] = error

    def refuse_token(self, error: str | None = "token_revoked") -> None:
        """Every call answers ``error`` (the token revoked); None accepts the token again."""
        with self._cond:
            self._refusals.token = error

    def refuse_payloads(
        self, error: str | None = "invalid_blocks", *, over_blocks: int = 2, why: str = ""
    ) -> None:
        """Posts and edits of more than ``over_blocks`` blocks answer ``error``, with ``why``
        in ``response_metadata.messages``; None accepts them again."""
        with self._cond:
            self._refusals.payload = None if error is None else (error, over_blocks, why)

    def find_message(self, channel: str, ts: str) -> Message | None:
        """A copy of the message with that ts in that channel, or None."""
        with self._cond:
            return copy.deepcopy(self._find(channel, ts))

    def channel_messages(self, channel: str) -> list[Message]:
        """Copies of the channel's top-level messages (no thread replies), oldest first."""
        with self._cond:
            top = [m for m in self.messages.get(channel, []) if m["thread_ts"] in (None, m["ts"])]
            return copy.deepcopy(top)

    def thread_replies(self, channel: str, ts: str) -> list[Message]:
        """Copies of the replies in the thread under message ``ts``, oldest first."""
        with self._cond:
            replies = [m for m in self.messages.get(channel, []) if m["thread_ts"] == ts != m["ts"]]
            return copy.deepcopy(replies)

    def all_posts(self) -> list[Message]:
        """Copies of every stored message in every channel, in posting order."""
        with self._cond:
            posts = [m for msgs in self.messages.values() for m in msgs]
            return copy.deepcopy(sorted(posts, key=lambda m: float(m["ts"])))

    def opened_views(self) -> list[Params]:
        """Copies of the modals opened (views.open and views.push), oldest first, as they are
        now (a views.update shows in them)."""
        with self._cond:
            return copy.deepcopy([self.views[view_id] for view_id, _ in self.opened])

    def refusals(self) -> list[Refusal]:
        """Copies of the payloads refused as Slack would refuse them, oldest first."""
        with self._cond:
            return copy.deepcopy(self.refused)

    def home(self, user: str) -> Params | None:
        """A copy of the Home tab last published for ``user``, or None."""
        with self._cond:
            return copy.deepcopy(self.homes.get(user))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate()`` is true (re-checked on each change); False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_version(self, since: int, timeout: float) -> int:
        """Block until ``version`` exceeds ``since`` or ``timeout`` passes; returns ``version``."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > since, timeout)
            return self.version

    # Below: called from the server's threads.

    def _handle_api(self, method: str, params: Params, authorization: str) -> StubResponse:
        token = params.pop("token", None)
        if authorization.startswith("Bearer "):
            token = authorization[len("Bearer ") :]
        params = _normalise(params)
        with self._cond:
            self.calls.append((method, copy.deepcopy(params)))
            self._changed()
        handler = self._methods.get(method)
        if handler is None:
            return 404, {}, {"ok": False, "error": "unknown_method"}
        if self.delay > 0:
            time.sleep(self.delay)  # outside the lock: a slow Slack must not stall the tests
        with self._cond:
            fault = self._take_fault(method)
            if fault is not None and fault.retry_after is not None:
                return self._rate_limited(fault.retry_after)
            if fault is not None:
                return fault.status, {}, {"ok": False, "error": fault.error}
            expected = self.app_token if method == "apps.connections.open" else self.token
            if token != expected:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            refused = self._setup_refusal(method)
            if refused is not None:
                return 200, self._scope_header(), {"ok": False, **refused}
            refusal = self._refusals.answer(method, params)
            if refusal is not None:
                return 200, self._scope_header(), refusal
            if method == "chat.postMessage" and params.get("channel"):
                wait = self._channel_wait(str(params["channel"]))
                if wait is not None:
                    return self._rate_limited(wait)
            try:
                return 200, self._scope_header(), {"ok": True, **handler(params)}
            except _ApiError as e:
                self._note_refusal(method, e)
                return 200, self._scope_header(), e.answer()

    def _handle_response(self, name: str, raw: bytes) -> tuple[int, Params | str]:
        try:
            body = _normalise(_parse_body(raw, "application/json"))
            blocks = _blocks(body) or []
        except (ValueError, _ApiError):
            return 400, "invalid_payload"
        text = _arg(body, "text")
        try:
            _accepted(body)
        except _ApiError as e:
            with self._cond:
                self._note_refusal("response_url", e)
            return 400, e.answer()
        with self._cond:
            self.responses.append((name, copy.deepcopy(body)))
            target = self._targets.get(name, _Target())
            original = self._find(target.channel, target.ts)
            if original is not None and body.get("delete_original") in (True, "true"):
                self.messages[original["channel"]].remove(original)
            elif original is not None and body.get("replace_original") in (True, "true"):
                self._edit(original, text, blocks)  # unlike chat.update, replaces everything
            elif body.get("response_type") == "in_channel" and target.channel:
                self._store(target.channel, text, blocks, None)
            else:
                self._ephemeral(target, text, blocks, "response_url")
            self._changed()
        return 200, "ok"

    # Below: called with the lock held.

    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()

    def _note_refusal(self, method: str, error: _ApiError) -> None:
        if error.error in (*_REFUSED, "msg_too_long") and error.messages:
            self.refused.append(Refusal(method, error.error, list(error.messages)))
            log.warning("refused %s: %s %s", method, error.error, "; ".join(error.messages))
            self._changed()

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (None, method):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _rate_limited(self, retry_after: int) -> StubResponse:
        self.rate_limited_count += 1
        self._changed()
        return 429, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"}

    def _channel_wait(self, channel: str) -> int | None:
        """Take a token from the channel's bucket; if empty, whole seconds until one is back."""
        if self._channel_rate is None:
            return None
        per_second, burst = self._channel_rate
        now = time.monotonic()
        tokens, last = self._buckets.get(channel, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * per_second)
        if tokens >= 1.0:
            self._buckets[channel] = (tokens - 1.0, now)
            return None
        self._buckets[channel] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / per_second))

    def _next_ts(self) -> str:
        self._ts_counter += _TS_STEP
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        return f"{_TS_EPOCH + seconds}.{micros:06d}"

    def _find(self, channel: str | None, ts: str | None) -> Message | None:
        for message in self.messages.get(channel or "", []):
            if ts and message["ts"] == ts:
                return message
        return None

    def _store(self, channel: str, text: str, blocks: list[Any], thread_ts: str | None) -> Message:
        message: Message = {"ts": self._next_ts(), "channel": channel, "text": text}
        message.update(blocks=blocks, thread_ts=thread_ts, edits=0, history=[])
        self.messages.setdefault(channel, []).append(message)
        self._changed()
        return message

    def _edit(self, message: Message, text: str, blocks: list[Any]) -> None:
        message["history"].append({"text": message["text"], "blocks": message["blocks"]})
        message["text"], message["blocks"] = text, blocks
        message["edits"] += 1
        self._changed()

    def _ephemeral(self, to: _Target, text: str, blocks: list[Any], source: str) -> None:
        entry = {"channel": to.channel, "user": to.user, "text": text, "blocks": blocks}
        self.ephemerals.append({**entry, "source": source})
        self._changed()

    @staticmethod
    def _public(message: Message) -> Params:
        """The message as Slack's API shows it to the bot that posted it."""
        shown = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID}
        shown.update({k: message[k] for k in ("ts", "text", "blocks")})
        if message["thread_ts"]:
            shown["thread_ts"] = message["thread_ts"]
        return shown

    def _connections_open(self, params: Params) -> Params:
        if not self.socket_mode_url:
            raise _ApiError("socket_mode_not_enabled")
        return {"url": self.socket_mode_url}

    def _auth_test(self, params: Params) -> Params:
        bot = {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}
        return {"url": "https://sandbox.slack.com/", "team": "Sandbox", "user": "simsid", **bot}

    def _post_message(self, params: Params) -> Params:
        channel = _arg(params, "channel", "channel_not_found")
        text, blocks = _content(params)
        message = self._store(channel, text, blocks, _arg(params, "thread_ts") or None)
        return {"channel": channel, "ts": message["ts"], "message": self._public(message)}

    def _update(self, params: Params) -> Params:
        channel = _arg(params, "channel", "channel_not_found")
        message = self._find(channel, _arg(params, "ts"))
        if message is None:
            raise _ApiError("message_not_found")
        # Slack keeps whatever an update leaves out; an empty list clears the blocks.
        text = _arg(params, "text") if "text" in params else message["text"]
        blocks = _blocks(params)
        _accepted(params)
        self._edit(message, text, message["blocks"] if blocks is None else blocks)
        return {"channel": channel, "ts": message["ts"], "message": self._public(message)}

    def _post_ephemeral(self, params: Params) -> Params:
        channel = _arg(params, "channel", "channel_not_found")
        user = _arg(params, "user", "user_not_found")
        text, blocks = _content(params)
        self._ephemeral(_Target(channel, None, user), text, blocks, "postEphemeral")
        return {"message_ts": self._next_ts()}

    def _get_permalink(self, params: Params) -> Params:
        channel, ts = _arg(params, "channel"), _arg(params, "message_ts")
        if self._find(channel, ts) is None:
            raise _ApiError("message_not_found")
        link = f"https://sandbox.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _new_view(self, view: Params, **extra: Any) -> Params:
        self._view_counter += 1
        stored = {**view, "id": f"V{self._view_counter:06d}", "hash": f"h{self._view_counter}"}
        stored.update(extra)
        self.views[stored["id"]] = stored
        self._changed()
        return stored

    def _views_open(self, params: Params) -> Params:
        trigger = _arg(params, "trigger_id", "invalid_trigger_id")
        view = self._new_view(_view(params, "modal"))
        self.opened.append((view["id"], {"trigger_id": trigger}))
        return {"view": copy.deepcopy(view)}

    def _views_update(self, params: Params) -> Params:
        view_id = _arg(params, "view_id") or _arg(params, "external_id")
        if view_id not in self.views:
            raise _ApiError("not_found")
        kind = self.views[view_id]["type"]
        stored = {**_view(params, kind), "id": view_id, "hash": f"h{self._view_counter + 1}"}
        self._view_counter += 1
        self.views[view_id] = stored
        self._changed()
        return {"view": copy.deepcopy(stored)}

    def _views_publish(self, params: Params) -> Params:
        user = _arg(params, "user_id", "user_not_found")
        view = self._new_view(_view(params, "home"))
        self.homes[user] = view
        return {"view": copy.deepcopy(view)}

    def _usergroup_users(self, params: Params) -> Params:
        group = _arg(params, "usergroup")
        if group not in self.usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    # -- the workspace as `simsid-bot doctor` reads it: scopes, channels, people --------
    # Everything exists and works unless a test says otherwise: any channel id is a public
    # channel the bot is in, any user id a person. The switches turn one thing at a time.

    def _setup_init(self) -> None:
        self.scopes: set[str] = set(GRANTED_SCOPES)
        self.revoked: str | None = None
        self.channels: dict[str, Params] = {}
        self.missing_channels: set[str] = set()
        self.missing_users: set[str] = set()
        self.deactivated_users: set[str] = set()
        # users.info's user.profile.email: this, else "<id in lower case>@example.org";
        # left out without users:read.email, as Slack does. `refuse_emails` answers
        # missing_scope instead, the refusal the bot must also survive.
        self.emails: dict[str, str] = {}
        self.refuse_emails = False

    def revoke_token(self, error: str | None = "token_revoked") -> None:
        """Every call with the bot token answers ``error`` (None takes it back)."""
        with self._cond:
            self.revoked = error

    def set_channel(
        self,
        channel: str,
        *,
        name: str | None = None,
        archived: bool = False,
        member: bool = True,
        private: bool = False,
    ) -> None:
        """What conversations.info says of ``channel``; a private channel the bot is not in
        reads as ``channel_not_found``, as on Slack."""
        with self._cond:
            self.channels[channel] = {
                "name": name or channel.lower(),
                "is_archived": archived,
                "is_member": member,
                "is_private": private,
            }

    def _scope_header(self) -> dict[str, str]:
        return {"x-oauth-scopes": ",".join(sorted(self.scopes))}

    def _setup_refusal(self, method: str) -> Params | None:
        """A revoked token, or a read method whose scope is not granted, as Slack says it."""
        if self.revoked and method != "apps.connections.open":
            return {"error": self.revoked}
        needed = _READ_SCOPES.get(method)
        if needed and not self.scopes.intersection(needed):
            provided = ",".join(sorted(self.scopes))
            return {"error": "missing_scope", "needed": ",".join(needed), "provided": provided}
        return None

    def _conversations_info(self, params: Params) -> Params:
        channel = _arg(params, "channel", "channel_not_found")
        shown = self.channels.get(channel) or {"name": channel.lower()}
        if channel in self.missing_channels or (
            shown.get("is_private") and not shown.get("is_member", True)
        ):
            raise _ApiError("channel_not_found")
        info = {"id": channel, "is_channel": True, "is_archived": False, "is_member": True}
        info.update(is_private=False, context_team_id=TEAM_ID)
        return {"channel": {**info, **shown}}

    def _users_info(self, params: Params) -> Params:
        user = _arg(params, "user", "user_not_found")
        if user in self.missing_users:
            raise _ApiError("user_not_found")
        if self.refuse_emails:
            raise _ApiError("missing_scope")
        profile = {"display_name": user, "real_name": user}
        if "users:read.email" in self.scopes:
            profile["email"] = self.emails.get(user, f"{user.lower()}@example.org")
        shown = {"id": user, "team_id": TEAM_ID, "name": user, "profile": profile}
        return {"user": {**shown, "deleted": user in self.deactivated_users}}
