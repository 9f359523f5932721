"""Driving the bot as Slack and SIMS ID would: over real HTTP on a loopback port or in
process, requests signed like Slack's; and the helpers every Slack test shares."""

from __future__ import annotations

import contextlib
import contextvars
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import BotApp
from bot.background.timing import Timings
from bot.sandbox import slack_payloads
from bot.sandbox.blockkit import answer_problems
from bot.web.server import serve_in_thread
from testing import signed

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
WEBHOOK_SECRET = "whsec_7f3a9c1e5b2d4086"
TEAM_ID = "T0SANDBOX"
ADMIN = "UADMIN1"
OTHER_ADMIN = "UADMIN2"
OUTSIDER = "UOUTSIDER"
CHANNEL = "C0INSTALLS"


# Slack's pace of one message a second per channel, shortened: most tests post two or
# more install messages to one channel and would wait that second each time.
# tests/test_delivery_pacing.py holds the real pace to Slack's.
QUICK_PACE = Timings(channel_interval=timedelta(milliseconds=20))


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    request = urllib.request.Request(
        url, data=body if method != "GET" else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return Response(resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return Response(err.code, err.read(), dict(err.headers))


def slack_headers(body: str, *, secret: str = SIGNING_SECRET, **options: Any) -> dict[str, str]:
    """Slack's headers for `body`, signed with the tests' signing secret by default."""
    return signed.slack_headers(body, secret=secret, **options)


def event_body(
    *,
    event_id: str,
    app_id: str = "app-homework",
    app_name: str = "Homework Hub",
    site_id: str = "site-oak",
    site_name: str = "Oakfield Primary",
    urn: str | None = "123456",
    dfe: str | None = "823/4001",
    type_: str = "installation.created",
    occurred_at: datetime | None = None,
) -> bytes:
    site: dict[str, Any] = {"id": site_id, "name": site_name}
    if urn is not None:
        site["urn"] = urn
    if dfe is not None:
        site["dfe_number"] = dfe
    return json.dumps(
        {
            "id": event_id,
            "type": type_,
            "occurred_at": (occurred_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "application": {"id": app_id, "name": app_name},
            "site": site,
        }
    ).encode()


def slack_answer(answer: Response) -> Response:
    """The bot's HTTP answer to Slack, after checking that Slack would accept what it
    carries: a command's reply, or a form's response_action view (the stand-in checks
    everything sent to it; these answers go to Slack directly)."""
    if answer.status != 200 or not answer.body.startswith(b"{"):
        return answer
    problems = answer_problems(answer.json())
    assert not problems, f"Slack would refuse the bot's answer: {problems}"
    return answer


class Client:
    """Talks to a running bot as Slack and SIMS ID would."""

    def __init__(self, base_url: str, response_url_base: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.response_url_base = response_url_base
        self._n = 0

    def post_slack(
        self,
        body: str,
        *,
        check: bool = True,
        headers: dict[str, str] | None = None,
        **sign: Any,
    ) -> Response:
        """POST `body` to /slack/events signed as Slack signs it (`sign`: slack_headers'
        options), with `headers` added (ones Slack sends unsigned, as X-Slack-Retry-Num);
        a JSON answer is checked as Slack would check it unless `check` is off."""
        sent = slack_headers(body, **sign) | (headers or {})
        answer = http("POST", f"{self.base}/slack/events", body.encode(), sent)
        return slack_answer(answer) if check else answer

    def send_event(
        self, body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> Response:
        headers = signed.webhook_headers(body, secret=secret, timestamp=timestamp)
        return http("POST", f"{self.base}/simsid/events", body, headers)

    def install(self, **fields: Any) -> Response:
        self._n += 1
        fields.setdefault("event_id", f"evt_{time.time_ns()}_{self._n}")
        return self.send_event(event_body(**fields))

    def _response_url(self, name: str) -> str:
        assert self.response_url_base, "pass the fake Slack's response URL base"
        return f"{self.response_url_base}/{name}"

    def slash(
        self,
        text: str,
        *,
        user: str = ADMIN,
        team: str = TEAM_ID,
        response_name: str | None = None,
        **sign: Any,
    ) -> Response:
        self._n += 1
        form = slack_payloads.slash_command(
            text,
            user=user,
            team=team,
            channel=CHANNEL,
            response_url=self._response_url(response_name or f"cmd{self._n}"),
            trigger_id=f"trig.{self._n}",
        )
        return self.post_slack(form, **sign)

    def private_reply(self, fake: Any, text: str, *, user: str = ADMIN, **sign: Any) -> str:
        """`/simsid text` answered through its response_url, as `secret` always is (the
        HTTP answer only says "Working on it"): that answer as JSON text."""
        self._n += 1
        name = f"reply{self._n}"
        answer = self.slash(text, user=user, response_name=name, **sign)
        assert answer.status == 200, answer
        assert "ck_" not in answer.body.decode()
        assert fake.wait_for(lambda: any(n == name for n, _ in fake.responses), timeout=15)
        with fake.lock:
            return json.dumps([body for n, body in fake.responses if n == name][-1])

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = ADMIN,
        team: str = TEAM_ID,
        channel: str = CHANNEL,
        message_ts: str | None = None,
        ephemeral: bool = False,
        response_name: str | None = None,
        **sign: Any,
    ) -> Response:
        self._n += 1
        payload = slack_payloads.block_actions(
            action_id,
            value,
            user=user,
            team=team,
            channel=channel,
            message_ts=message_ts or "1.000",
            is_ephemeral=ephemeral,
            message={"ts": message_ts, "type": "message"} if message_ts and not ephemeral else None,
            response_url=self._response_url(response_name or f"click{self._n}"),
            trigger_id=f"trig.{self._n}",
        )
        form = slack_payloads.payload_form(payload)
        return self.post_slack(form, **sign)

    def click_home(self, action_id: str, value: str, *, user: str = ADMIN, **sign: Any) -> Response:
        """A button pressed on the App Home tab: no response_url, the view as container."""
        self._n += 1
        payload = slack_payloads.home_block_actions(
            action_id, value, user=user, team=TEAM_ID, trigger_id=f"trig.{self._n}"
        )
        form = slack_payloads.payload_form(payload)
        return self.post_slack(form, **sign)

    def submit_view(
        self,
        view: dict[str, Any],
        reason: str | None = None,
        *,
        user: str = ADMIN,
        until: int | None = None,
        **sign: Any,
    ) -> Response:
        """Submit a modal the bot opened, with `reason` typed into its reason field and
        `until` (Unix seconds) picked in its datetimepicker, if it has one."""
        inputs = [b["block_id"] for b in view.get("blocks") or [] if b.get("type") == "input"]
        typed = dict.fromkeys(inputs, reason)
        if "simsid_until" in typed:
            typed["simsid_until"] = None if until is None else str(until)
        payload = slack_payloads.view_submission(
            view,
            typed,
            user=user,
            team=TEAM_ID,
            trigger_id=f"trig.{self._n}",
        )
        form = slack_payloads.payload_form(payload)
        return self.post_slack(form, **sign)

    def submit_reason(
        self, action_id: str, value: str, reason: str | None = "test reason", **kw: Any
    ) -> Response:
        """What Slack sends when someone presses Disable or Remove (`value` is the
        button's) and submits the form with `reason`, without the views.open between:
        for tests that press many buttons at once."""
        from bot.slack.ids import ReasonAsk, decode_installation, encode_reason_ask

        installation_id, version = decode_installation(value)
        kind = action_id.removeprefix("simsid_")
        view = {
            "id": f"VFORM{self._n}",
            "type": "modal",
            "callback_id": "simsid_reason",
            "private_metadata": encode_reason_ask(ReasonAsk(kind, installation_id, version)),
            "blocks": [
                {
                    "type": "input",
                    "block_id": "simsid_reason",
                    "element": {"type": "plain_text_input", "action_id": "simsid_reason_text"},
                }
            ],
        }
        return self.submit_view(view, reason, **kw)

    def decide(
        self,
        fake: Any,
        action_id: str,
        value: str,
        reason: str | None = "test reason",
        *,
        user: str = ADMIN,
        **click: Any,
    ) -> Response:
        """Press a button that asks why (Disable, Remove, Disable all), then submit the
        modal it opens with `reason`; the submission's answer."""
        before = len(fake.opened)
        answer = self.click(action_id, value, user=user, **click)
        assert answer.status == 200, answer.body
        assert fake.wait_for(lambda: len(fake.opened) > before), "no modal opened"
        return self.submit_view(fake.opened_views()[before], reason, user=user)

    def open_home(self, *, user: str = ADMIN, tab: str = "home", **sign: Any) -> Response:
        """The app_home_opened event, as the Events API sends it (JSON, signed)."""
        self._n += 1
        body = slack_payloads.home_opened(
            user=user, team=TEAM_ID, event_id=f"Ev{time.time_ns()}{self._n}", tab=tab
        )
        return self.post_slack(body, content_type="application/json", check=False, **sign)

    def health(self) -> Response:
        return http("GET", f"{self.base}/healthz")


class InProcess(Client):
    """Client's requests handed to the app in this process, with no socket between:
    Slack's to `bot.bolt.dispatch` (signed as Slack signs, so Bolt still verifies them),
    SIMS ID's and /healthz to the WSGI callable. For tests of what the bot does, not of
    the HTTP edge (keep those on `serving`)."""

    def __init__(self, bot: BotApp, response_url_base: str | None = None) -> None:
        super().__init__("http://in-process", response_url_base)
        self._bot = bot

    def post_slack(
        self,
        body: str,
        *,
        check: bool = True,
        headers: dict[str, str] | None = None,
        **sign: Any,
    ) -> Response:
        from slack_bolt import BoltRequest

        # In a context of its own, as the WSGI edge gives each request: what the request
        # sets (its user, for the logs) stays with it, not with the test's thread.
        sent = slack_headers(body, **sign) | (headers or {})
        request = BoltRequest(body=body, headers=sent)
        answer = contextvars.Context().run(self._bot.bolt.dispatch, request)
        text = answer.body if isinstance(answer.body, str) else ""
        got = {k: v[0] if isinstance(v, list) else v for k, v in answer.headers.items()}
        response = Response(answer.status, text.encode(), got)
        return slack_answer(response) if check else response

    def _wsgi(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        import io
        from wsgiref.util import setup_testing_defaults

        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
            else:
                environ[f"HTTP_{key}"] = value
        setup_testing_defaults(environ)
        started: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> Any:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = dict(response_headers)
            return lambda _data: None

        chunks = self._bot.wsgi(environ, start_response)
        try:
            out = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return Response(started["status"], out, started["headers"])

    def send_event(
        self, body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> Response:
        headers = signed.webhook_headers(body, secret=secret, timestamp=timestamp)
        return self._wsgi("POST", "/simsid/events", body, headers)

    def health(self) -> Response:
        return self._wsgi("GET", "/healthz", b"", {})


@contextmanager
def in_process(bot: BotApp, fake: Any, *, deliver: bool = True) -> Iterator[InProcess]:
    """An `InProcess` client for `bot` (its delivery loop running unless `deliver` is
    off), with response URLs on the Slack stand-in `fake`."""
    if deliver:
        bot.delivery.start()
    try:
        yield InProcess(bot, response_url_base=fake.response_url("x").rsplit("/", 1)[0])
    finally:
        if deliver:
            bot.delivery.stop()


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id -> value of every button in a message's (or a view's) actions blocks."""
    return {
        e["action_id"]: e.get("value", "")
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    }


def install_and_wait(client: Client, fs: Any, n: int = 1, **fields: Any) -> dict[str, Any]:
    """Send one install event; once the Slack stand-in `fs` has `n` more channel messages,
    the last of them."""
    before = len(fs.channel_messages(CHANNEL))
    answer = client.install(**fields)
    assert answer.status == 202, answer
    assert fs.wait_for(lambda: len(fs.channel_messages(CHANNEL)) >= before + n, timeout=15)
    return fs.channel_messages(CHANNEL)[-1]  # type: ignore[no-any-return]


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass (for state outside the Slack
    stand-in, which has its own `wait_for`). The one poll loop of the tests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def sqlite_write_lock_asked(db: Any, thread: Callable[[], Any] | None = None) -> Any:
    """A threading.Event set when a writer on SQLite `db` (on the thread `thread()` names,
    if given) asks for the write lock, where it then waits out of sight: this process's
    writers' turn (`Database._writers`) or SQLite's own (BEGIN IMMEDIATE)."""
    import threading

    from sqlalchemy import event

    asked = threading.Event()

    def ours() -> bool:
        return thread is None or threading.current_thread() is thread()

    def before(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement == "BEGIN IMMEDIATE" and ours():
            asked.set()

    class Announcing:
        def __init__(self, lock: Any) -> None:
            self._lock = lock

        def acquire(self, *args: Any, **kwargs: Any) -> bool:
            if ours():
                asked.set()
            return bool(self._lock.acquire(*args, **kwargs))

        def release(self) -> None:
            self._lock.release()

    db._writers = Announcing(db._writers)
    # The writers' engine: execution options fix an engine's listeners when it is made.
    event.listen(db._write_engine, "before_cursor_execute", before)
    return asked


@contextmanager
def serving(bot: BotApp, *, deliver: bool = True) -> Iterator[str]:
    """Serve `bot.wsgi` on a loopback port in this process; yields the base URL."""
    served = serve_in_thread(bot.wsgi)
    if deliver:
        bot.delivery.start()
    try:
        yield served.url
    finally:
        served.close()
        if deliver:
            bot.delivery.stop()


def listeners_finished(bot: BotApp) -> None:
    """Wait until every listener Bolt has started has finished: then anything a listener
    would have said or changed has been. The app takes no more requests after this."""
    bot.bolt.listener_runner.listener_executor.shutdown(wait=True)


def settle(bot: BotApp, timeout: float = 15.0) -> None:
    """Wait until the work the bot's requests left running has finished: answers given
    after the ack, listeners' work after it, then the deciders' emails asked of Slack
    (ActorEmails), so that disposing the database next leaves no connection open under
    them. The app takes no more requests after this."""
    assert bot.answering.wait(timeout), "answers still being worked on"
    listeners_finished(bot)
    emails = bot.delivery._upstream_lane.emails
    if emails is not None:
        assert emails.finish(timeout), "a decider's email still being asked"


def bot_command() -> list[str]:
    """The installed `simsid-bot` console script (falls back to `python -m bot`)."""
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("simsid-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("simsid-bot")
    return [found] if found else [sys.executable, "-m", "bot"]


def server_env(api_url: str, database_url: str, key: str, **extra: str) -> dict[str, str]:
    """The environment of a `simsid-bot serve` subprocess pointed at a fake Slack."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIMSID_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        DATABASE_URL=database_url,
        SIMSID_ENCRYPTION_KEYS=key,
        SIMSID_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SIMSID_ADMINS=f"{ADMIN},SADMINS",
        SIMSID_DEFAULT_CHANNEL=CHANNEL,
        LOG_LEVEL="INFO",
        # A schedule that never comes round during a test run (29 February only), so a
        # catch-up digest cannot land among the messages a test counts.
        SIMSID_DIGEST_CRON="0 0 29 2 *",
    )
    env.update(extra)
    return env


class ServerProcess:
    """`simsid-bot serve --port 0` in a subprocess; `url` once it says it listens."""

    def __init__(
        self,
        env: dict[str, str],
        *args: str,
        log_path: Any = None,
        command: list[str] | None = None,
    ) -> None:
        """`command` runs in place of the installed console script (same arguments)."""
        import subprocess

        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115  (outlives this call; closed by stop())
        self.proc = subprocess.Popen(
            [*(command or bot_command()), "serve", "--port", "0", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            # Its own process group: kill() takes the workers down with the master.
            start_new_session=True,
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 30.0) -> str:
        import select

        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if b"listening on" in line:
                    port = line.decode().strip().rsplit(":", 1)[1]
                    return f"http://127.0.0.1:{port}"
            if self.proc.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"server did not start (exit {self.proc.poll()}): {line!r}")

    def terminate(self, timeout: float = 15.0) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.kill()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            if self._log not in (None, -3):
                self._log.close()  # type: ignore[union-attr]

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a crash of the machine would."""
        import os
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
