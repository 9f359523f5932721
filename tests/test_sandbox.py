"""The browser sandbox without a browser: its endpoints driven over HTTP, as the page does.

The sandbox runs as a subprocess (`python -m bot sandbox --port 0`), exactly as a
person starts it: it configures the vault's keys for the whole process, which must
not leak into the other tests of this session.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import wait_until

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60.0
STOP_SECONDS = 15.0
HOSTILE = "<img src=x onerror=alert(1)> & <!channel>"
CLIENT_KEY = re.compile(r"`ck_[A-Za-z0-9_-]{24}`")  # bare "ck_" is in :white_check_mark:
# A hostile environment: the sandbox must ignore every one of these.
FOREIGN_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-real-workspace-token",
    "SLACK_SIGNING_SECRET": "real-signing-secret",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/prod",
    "SIMSID_ENCRYPTION_KEYS": "not-a-fernet-key",
    "SIMSID_ADMINS": "UPRODADMIN",
    "SIMSID_UPSTREAM_URL": "http://127.0.0.1:9/decisions",
    "SIMSID_UPSTREAM_SECRET": "upsec_4e8b2f6a9d1c7053",
}


@dataclass
class Sandbox:
    """A running `simsid-bot sandbox` and a small client for its page's endpoints."""

    url: str
    process: subprocess.Popen[str]
    log: Path

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        return _send(request)

    def post(self, path: str, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        return _send(request)

    def state(self, user: str = "UADMIN") -> dict[str, Any]:
        status, body = self.get(f"/sandbox/state?user={user}")
        assert status == 200, body
        return dict(body)

    def items(self, channel: str = "C0INSTALLS", user: str = "UADMIN") -> list[dict[str, Any]]:
        for entry in self.state(user)["channels"]:
            if entry["id"] == channel:
                return list(entry["items"])
        return []

    def wait_for(
        self, find: Callable[[], Any], what: str, timeout: float = 15.0
    ) -> Any:  # the first truthy answer of find()
        answer: dict[str, Any] = {}

        def found() -> bool:
            answer["found"] = find()
            return bool(answer["found"])

        if wait_until(found, timeout):
            return answer["found"]
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log.read_text()[-3000:]}")

    def install(self, site_id: str, site_name: str, **fields: str) -> dict[str, Any]:
        body = {
            "type": "installation.created",
            "app_id": "app-homework",
            "app_name": "Homework Hub",
            "site_id": site_id,
            "site_name": site_name,
            "urn": "123456",
            "dfe_number": "823/4001",
            **fields,
        }
        status, answer = self.post("/sandbox/install", body)
        assert status == 200 and answer == {"ok": True, "status": 202}, answer
        return dict(answer)

    def command(self, text: str, user: str = "UADMIN", channel: str = "C0INSTALLS") -> Any:
        status, answer = self.post(
            "/sandbox/command", {"user": user, "channel": channel, "text": text}
        )
        assert status == 200 and answer["ok"], answer
        return answer

    def message_about(self, text: str, channel: str = "C0INSTALLS") -> dict[str, Any] | None:
        for item in self.items(channel):
            if item["kind"] == "message" and text in json.dumps(item["blocks"]):
                return item
        return None


def _send(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def _read_url(process: subprocess.Popen[str], timeout: float) -> str | None:
    """The URL the sandbox prints, read in a thread so a silent process cannot hang the test."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        return None
    match = re.search(r"Sandbox running: open (http://127\.0\.0\.1:\d+)/", line)
    return match.group(1) if match else None


def stop_sandbox(process: subprocess.Popen[str]) -> int | None:
    """SIGTERM, then kill after STOP_SECONDS; the exit status, or None if it had to be killed."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


@contextmanager
def running_sandbox(db_path: Path, *, env: dict[str, str] | None = None) -> Iterator[Sandbox]:
    """`python -m bot sandbox --port 0 --db db_path`; on exit, stops it and checks it exits 0."""
    log = db_path.with_name(db_path.name + ".log")
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--db", str(db_path)],
            cwd=db_path.parent,  # a stray .env in the repository must not matter either
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        status: int | None = -1
        try:
            url = _read_url(process, START_SECONDS)
            assert url, f"the sandbox printed no URL; log:\n{log.read_text()[-3000:]}"
            yield Sandbox(url, process, log)
        finally:
            status = stop_sandbox(process)
            assert process.stdout is not None
            process.stdout.close()
        assert status == 0, (
            f"the sandbox did not exit 0 within {STOP_SECONDS:.0f}s of SIGTERM "
            f"(status {status}); log:\n{log.read_text()[-3000:]}"
        )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    db_path = tmp_path_factory.mktemp("sandbox") / "sandbox.db"
    with running_sandbox(db_path, env=FOREIGN_ENV) as running:
        yield running


def _decode(mrkdwn: str) -> str:
    """What the page shows for mrkdwn text: the three escapes decoded, nothing else."""
    return re.sub(r"&(lt|gt|amp);", lambda m: {"lt": "<", "gt": ">", "amp": "&"}[m[1]], mrkdwn)


def _ephemerals(sandbox: Sandbox, user: str, channel: str = "C0INSTALLS") -> list[dict[str, Any]]:
    return [i for i in sandbox.items(channel, user) if i["kind"] == "ephemeral"]


def _buttons(item: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Each button's label -> (block index, element index), as the page sends them."""
    found = {}
    for b, block in enumerate(item["blocks"]):
        for e, element in enumerate(block.get("elements", [])):
            if element.get("type") == "button":
                found[element["text"]["text"]] = (b, e)
    return found


def _click(sandbox: Sandbox, item: dict[str, Any], label: str, user: str = "UADMIN") -> Any:
    block, element = _buttons(item)[label]
    status, answer = sandbox.post(
        "/sandbox/click",
        {
            "user": user,
            "channel": "C0INSTALLS",
            "ts": item["ts"],
            "ephemeral": item["kind"] == "ephemeral",
            "block": block,
            "element": element,
        },
    )
    assert status == 200 and answer["ok"], answer
    return answer


# -- the page and its guards -------------------------------------------------------


def test_serves_the_page_and_its_files(sandbox: Sandbox) -> None:
    status, page = sandbox.get("/")
    assert status == 200 and "<title>SIMS ID bot sandbox</title>" in page
    for name in ("app.js", "style.css"):
        status, _ = sandbox.get(f"/static/{name}")
        assert status == 200, name
    assert sandbox.get("/static/../run.py")[0] == 404
    assert sandbox.get("/static/missing.js")[0] == 404


def test_refuses_what_a_foreign_page_could_send(sandbox: Sandbox) -> None:
    request = urllib.request.Request(
        sandbox.url + "/sandbox/command",
        data=b"user=UADMIN&channel=C0INSTALLS&text=%2Fsimsid+help",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert _send(request)[0] == 415
    status, _ = sandbox.get("/sandbox/state?user=UADMIN", headers={"Host": "evil.example"})
    assert status == 403


def test_rejects_bad_requests_with_a_reason(sandbox: Sandbox) -> None:
    status, answer = sandbox.post(
        "/sandbox/command", {"user": "UNOBODY", "channel": "C0INSTALLS", "text": "/simsid"}
    )
    assert status == 400 and "unknown user" in answer["error"]
    status, answer = sandbox.post(
        "/sandbox/command", {"user": "UADMIN", "channel": "C0INSTALLS", "text": "hello"}
    )
    assert status == 400 and "/simsid" in answer["error"]
    status, answer = sandbox.post(
        "/sandbox/click",
        {"user": "UADMIN", "channel": "C0INSTALLS", "ts": "1.2", "block": 0, "element": 0},
    )
    assert status == 400 and "gone" in answer["error"]


def test_long_poll_waits_for_a_change(sandbox: Sandbox) -> None:
    version = sandbox.state()["version"]
    started = time.monotonic()
    status, state = sandbox.get(f"/sandbox/state?user=UADMIN&since={version}&wait=1")
    assert status == 200 and state["version"] == version
    assert time.monotonic() - started >= 0.9


# -- through the bot ---------------------------------------------------------------


def test_install_appears_and_approve_updates_it(sandbox: Sandbox) -> None:
    sandbox.install("site-oak", "Oakfield Primary")
    message = sandbox.wait_for(
        lambda: sandbox.message_about("Oakfield Primary"), "the install message"
    )
    assert "Pending approval" in json.dumps(message["blocks"])
    assert set(_buttons(message)) == {"Approve", "Disable", "Remove"}

    _click(sandbox, message, "Approve")
    updated = sandbox.wait_for(
        lambda: (m := sandbox.message_about("Oakfield Primary")) and m["edited"] and m,
        "the message to show the approval",
    )
    assert "Enabled" in json.dumps(updated["blocks"])
    assert "Approve" not in _buttons(updated)
    assert sandbox.state()["requests"][0]["status"] == 200


def _submit(sandbox: Sandbox, user: str, text: str) -> dict[str, Any]:
    modal = sandbox.wait_for(lambda: sandbox.state(user)["modal"], "the form")
    status, answer = sandbox.post(
        "/sandbox/submit", {"user": user, "view_id": modal["id"], "text": text}
    )
    assert status == 200 and answer["ok"], answer
    return dict(modal)


def test_a_short_maintenance_window_ends_in_the_sandbox(sandbox: Sandbox) -> None:
    sandbox.install("site-grove", "Grove School")
    message = sandbox.wait_for(lambda: sandbox.message_about("Grove School"), "the install")
    _click(sandbox, message, "Approve")
    enabled = sandbox.wait_for(
        lambda: (m := sandbox.message_about("Grove School")) and "Approve" not in _buttons(m) and m,
        "the approval",
    )
    _click(sandbox, enabled, "Disable")
    modal = sandbox.wait_for(lambda: sandbox.state("UADMIN")["modal"], "the form")
    until = str(int(time.time()) + 3)  # what the page sends from its picker: Unix seconds
    status, answer = sandbox.post(
        "/sandbox/submit",
        {"user": "UADMIN", "view_id": modal["id"], "text": "upgrade", "until": until},
    )
    assert status == 200 and answer["ok"], answer
    sandbox.wait_for(
        lambda: "Disabled until" in json.dumps(sandbox.message_about("Grove School")),
        "the window on the message",
    )
    sandbox.wait_for(
        lambda: sandbox.message_about("Maintenance over"), "the channel told", timeout=30
    )
    back = sandbox.wait_for(
        lambda: (m := sandbox.message_about("Grove School")) and "Enable" not in _buttons(m) and m,
        "the message enabled again",
    )
    assert "maintenance window by" in json.dumps(back["blocks"])


def test_a_reasoned_disable_and_a_two_person_remove(sandbox: Sandbox) -> None:
    sandbox.install("site-elm", "Elm Academy")
    message = sandbox.wait_for(lambda: sandbox.message_about("Elm Academy"), "the install")
    _click(sandbox, message, "Disable")
    modal = _submit(sandbox, "UADMIN", "billing")
    assert modal["view"]["title"]["text"] == "Disable installation"
    assert sandbox.state()["modal"] is None  # sent: the form closed
    disabled = sandbox.wait_for(
        lambda: (m := sandbox.message_about("Elm Academy")) and "billing" in json.dumps(m) and m,
        "the reason on the message",
    )
    assert set(_buttons(disabled)) == {"Enable", "Remove"}

    # Remove without a reason: the form says so and stays open.
    _click(sandbox, disabled, "Remove")
    _submit(sandbox, "UADMIN", "")
    errors = sandbox.wait_for(lambda: (sandbox.state()["modal"] or {}).get("errors"), "errors")
    assert "simsid_reason" in errors
    _submit(sandbox, "UADMIN", "a test school")
    asked = sandbox.wait_for(
        lambda: (
            (m := sandbox.message_about("Elm Academy")) and "Confirm removal" in _buttons(m) and m
        ),
        "the removal request",
    )
    assert "asked to remove it: a test school" in json.dumps(asked["blocks"])
    # The requester's own confirmation is refused; the second admin's removes it.
    _click(sandbox, asked, "Confirm removal")
    sandbox.wait_for(
        lambda: [e for e in _ephemerals(sandbox, "UADMIN") if "another admin" in json.dumps(e)],
        "the refusal",
    )
    _click(sandbox, asked, "Confirm removal", user="UADMIN2")
    sandbox.wait_for(
        lambda: (m := sandbox.message_about("Elm Academy")) and "Removed" in json.dumps(m),
        "the removal",
    )


def test_the_home_tab_for_an_admin_and_a_guest(sandbox: Sandbox) -> None:
    sandbox.install("site-ash", "Ash Lane")
    sandbox.wait_for(lambda: sandbox.message_about("Ash Lane"), "the install")
    for user in ("UADMIN", "UGUEST"):
        status, answer = sandbox.post("/sandbox/home", {"user": user})
        assert status == 200 and answer["ok"], answer
    home = sandbox.wait_for(lambda: sandbox.state()["home"], "the admin's Home tab")
    assert "Ash Lane" in json.dumps(home) and "Approve" in _buttons(home)
    block, element = _buttons(home)["Approve"]
    status, answer = sandbox.post(
        "/sandbox/click", {"user": "UADMIN", "surface": "home", "block": block, "element": element}
    )
    assert status == 200 and answer["ok"], answer
    sandbox.wait_for(
        lambda: "Approved" in json.dumps((sandbox.state()["home"] or {}).get("blocks", [])[:3]),
        "the Home tab republished",
    )
    guest = sandbox.wait_for(lambda: sandbox.state("UGUEST")["home"], "the guest's Home tab")
    assert "Ash Lane" not in json.dumps(guest) and not _buttons(guest)


def test_command_answers_privately(sandbox: Sandbox) -> None:
    sandbox.install("site-elm", "Elm Tree Primary")
    sandbox.wait_for(lambda: sandbox.message_about("Elm Tree Primary"), "the install message")
    message = sandbox.message_about("Elm Tree Primary")
    assert message is not None
    _click(sandbox, message, "Approve")
    sandbox.wait_for(
        lambda: "Enabled" in json.dumps(sandbox.message_about("Elm Tree Primary")),
        "the approval",
    )

    sandbox.command("/simsid secret app-homework site-elm")
    reply = sandbox.wait_for(
        lambda: [e for e in _ephemerals(sandbox, "UADMIN") if CLIENT_KEY.search(json.dumps(e))],
        "the secret",
    )[0]
    assert reply["origin"] == "/simsid secret app-homework site-elm"
    # Private means private: the other person sees neither the reply nor the secret.
    guest_view = json.dumps(sandbox.state("UGUEST"))
    assert not CLIENT_KEY.search(guest_view)
    assert reply["ts"] not in guest_view


def test_non_admin_is_refused(sandbox: Sandbox) -> None:
    before = len(_ephemerals(sandbox, "UGUEST"))
    sandbox.command("/simsid pending", user="UGUEST")
    refusal = sandbox.wait_for(
        lambda: _ephemerals(sandbox, "UGUEST")[before:], "the refusal", timeout=10
    )[0]
    assert "Only SIMS ID admins" in refusal["text"]


def test_hostile_names_round_trip_literally(sandbox: Sandbox) -> None:
    sandbox.install("site-evil", HOSTILE, app_id="app-parent-portal", app_name="Parent Portal")
    message = sandbox.wait_for(
        lambda: sandbox.message_about("onerror", channel="C0PORTAL"), "the hostile install"
    )
    site_line = message["blocks"][1]["text"]["text"]
    assert "<" not in site_line  # nothing Slack would read as a mention or a link
    assert _decode(site_line) == f"*{HOSTILE}*"  # and the page shows the name as it is


def test_paging_replaces_the_private_listing(sandbox: Sandbox) -> None:
    for n in range(12):
        sandbox.install(f"site-page-{n:02d}", f"Paging School {n:02d}")
    # Installs are stored before the webhook answers, so the listing has them at once
    # (their channel messages come more slowly: Slack allows one a second per channel).
    sandbox.command("/simsid pending")
    listing = sandbox.wait_for(
        lambda: [e for e in _ephemerals(sandbox, "UADMIN") if "Next" in _buttons(e)],
        "a paged listing",
    )[-1]
    count = len(_ephemerals(sandbox, "UADMIN"))

    _click(sandbox, listing, "Next")

    def replaced() -> dict[str, Any] | None:
        for item in _ephemerals(sandbox, "UADMIN"):
            if item["ts"] == listing["ts"] and item["blocks"] != listing["blocks"]:
                return item
        return None

    second_page = sandbox.wait_for(replaced, "the listing to turn its page")
    assert "Previous" in _buttons(second_page)
    assert len(_ephemerals(sandbox, "UADMIN")) == count  # replaced, not added


def test_a_restart_can_still_show_its_secrets(tmp_path: Path) -> None:
    db_path = tmp_path / "sandbox.db"
    with running_sandbox(db_path) as first:
        first.install("site-keep", "Keepsake Primary")
        message = first.wait_for(lambda: first.message_about("Keepsake"), "the install")
        _click(first, message, "Approve")
        first.wait_for(
            lambda: "Enabled" in json.dumps(first.message_about("Keepsake")), "the approval"
        )
    key = db_path.with_name("sandbox.db.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    with running_sandbox(db_path) as second:
        second.command("/simsid secret app-homework site-keep")
        second.wait_for(
            lambda: [e for e in _ephemerals(second, "UADMIN") if CLIENT_KEY.search(json.dumps(e))],
            "the secret after a restart",
        )


# -- its settings and key, without starting it -----------------------------------------


def test_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.sandbox.workspace import Secrets, load_or_create_key, sandbox_settings

    for name, value in FOREIGN_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIMSID_DIGEST_CRON", "* * * * *")
    shared = Secrets.generate()
    key = load_or_create_key(tmp_path / "sandbox.db")

    settings = sandbox_settings(
        api_url="http://127.0.0.1:1/api/", db_path=tmp_path / "sandbox.db", key=key, shared=shared
    )

    assert settings.simsid_upstream_url is None and settings.simsid_upstream_secret is None
    assert settings.slack_api_url == "http://127.0.0.1:1/api/"
    assert settings.database_url == f"sqlite:///{tmp_path / 'sandbox.db'}"
    assert settings.simsid_admins == ["UADMIN", "UADMIN2"]
    assert settings.simsid_remove_approvals == 2
    assert settings.simsid_digest_cron == "0 8 * * 1-5"
    assert settings.encryption_keys() == [key]


def test_the_key_is_made_once_and_private(tmp_path: Path) -> None:
    from bot.sandbox.workspace import load_or_create_key

    first = load_or_create_key(tmp_path / "sandbox.db")
    assert load_or_create_key(tmp_path / "sandbox.db") == first
    key_file = tmp_path / "sandbox.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_negative_content_length_is_refused_not_waited_on(sandbox: Sandbox) -> None:
    """A negative length is refused at once: read(-1) reads to the end of the stream, so
    the handler thread would wait for the client to close the connection."""
    import socket
    import urllib.parse

    host, port = urllib.parse.urlsplit(sandbox.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /sandbox/command HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n"
        )
        try:
            answer = conn.recv(4096)
        except TimeoutError:
            answer = b"(no answer: still reading the body)"
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400"), answer
    assert b"Content-Length" in answer


def test_a_payload_slack_would_refuse_shows_in_the_request_log() -> None:
    """The sandbox's stand-in is the tests' own: it refuses what Slack would, and the page's
    request log says so in Slack's words instead of showing the message."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.sandbox.run import FakeSlack
    from bot.sandbox.timeline import Timeline

    with FakeSlack(token="xoxb-sandbox") as fake:
        timeline = Timeline(fake)
        section = {"type": "section", "block_id": "b", "text": {"type": "mrkdwn", "text": "x"}}
        client = WebClient(token="xoxb-sandbox", base_url=fake.api_url)
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C0INSTALLS", text="x", blocks=[section, section])
        state = timeline.snapshot("UADMIN", {"C0INSTALLS": "installs"})
    assert state["channels"][0]["items"] == []
    [logged] = state["requests"]
    assert logged["what"] == "Slack refused chat.postMessage: invalid_blocks"
    assert logged["detail"] == '[ERROR] duplicate block_id "b" [json-pointer:/blocks/1/block_id]'


def test_an_answer_of_the_bot_slack_would_refuse_fails_in_the_sandbox() -> None:
    """A command's reply (the bot's HTTP answer) that Slack would refuse is a failure on the
    page, with Slack's reason, as in Slack, not a reply shown."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bot.sandbox.api import _outcome
    from bot.sandbox.relay import _post

    empty = {"type": "section", "text": {"type": "mrkdwn", "text": ""}}
    reply = json.dumps({"text": "Approved", "blocks": [empty]}).encode()

    class Bot(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = _post(f"http://127.0.0.1:{server.server_address[1]}/slack/events", b"x", {})
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    said = "[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]"
    assert (answer.status, answer.ok, answer.refused) == (200, False, (said,))
    assert _outcome(answer) == {
        "ok": False,
        "status": 200,
        "error": f"Slack would refuse the bot's answer: {said}",
    }


def test_the_list_modal_previews_then_approves(sandbox: Sandbox) -> None:
    # An application of its own: the other tests share the sandbox and act on theirs.
    sandbox.install(
        "site-ash", "Ash Grove Primary", app_id="app-lists", app_name="List Lab", urn="100001"
    )

    sandbox.command("/simsid approve List Lab")
    form = _submit(sandbox, "UADMIN", "100001")
    assert form["view"]["title"]["text"] == "Approve from a list"
    preview = sandbox.wait_for(
        lambda: (m := sandbox.state()["modal"]) and m["view"]["title"]["text"] == "Preview" and m,
        "the preview",
    )
    assert "*1 installation* of *List Lab* will be approved" in json.dumps(preview["view"])
    _submit(sandbox, "UADMIN", "")
    done = sandbox.wait_for(
        lambda: (m := sandbox.state()["modal"]) and m["view"]["title"]["text"] == "Done" and m,
        "the outcome",
    )
    assert "1 installation" in json.dumps(done["view"])
