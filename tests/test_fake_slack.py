"""The local stand-in for Slack, driven through the real slack_sdk clients."""

import copy
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.sandbox.fake_slack import FakeSlack

TOKEN = "xoxb-test"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Oakfield Primary*"}}


@pytest.fixture
def fs() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def client(fs: FakeSlack) -> WebClient:
    # No retry handlers: each test decides whether the client retries.
    return WebClient(token=TOKEN, base_url=fs.api_url, retry_handlers=[])


def test_auth_test_names_the_sandbox_bot(client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0SANDBOX", "UBOT", "BBOT")
    assert answer["team"] == "Sandbox"


def test_post_then_update_records_the_edit(fs: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="Pending", blocks=[SECTION])
    assert posted["ts"].startswith("1795770000.")

    client.chat_update(channel="C1", ts=posted["ts"], text="Approved by <@U1>")

    message = fs.find_message("C1", posted["ts"])
    assert message is not None
    assert message["text"] == "Approved by <@U1>"
    assert message["blocks"] == [SECTION], "blocks left out of an update are kept, as Slack does"
    assert message["edits"] == 1
    assert message["history"] == [{"text": "Pending", "blocks": [SECTION]}]
    assert ("chat.update", {"channel": "C1", "ts": posted["ts"], "text": "Approved by <@U1>"}) in (
        fs.calls
    )


def test_timestamps_increase_and_threads_are_kept_apart(fs: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="install")["ts"]
    reply = client.chat_postMessage(channel="C1", text="reminder", thread_ts=parent)["ts"]
    other = client.chat_postMessage(channel="C2", text="digest")["ts"]

    assert float(parent) < float(reply) < float(other)
    assert [m["ts"] for m in fs.channel_messages("C1")] == [parent]
    assert [m["text"] for m in fs.thread_replies("C1", parent)] == ["reminder"]
    assert [m["ts"] for m in fs.all_posts()] == [parent, reply, other]


def test_form_encoded_blocks_are_stored_as_a_list(fs: FakeSlack, client: WebClient) -> None:
    # params= makes slack_sdk send a form body, where blocks travel as a JSON string.
    params = {"channel": "C1", "text": "fallback", "blocks": json.dumps([SECTION])}
    ts = client.api_call("chat.postMessage", params=params)["ts"]
    message = fs.find_message("C1", ts)
    assert message is not None and message["blocks"] == [SECTION]


@pytest.mark.parametrize(
    ("method", "kwargs", "error"),
    [
        ("chat_postMessage", {"channel": "", "text": "x"}, "channel_not_found"),
        ("chat_update", {"channel": "C1", "ts": "1.000001", "text": "x"}, "message_not_found"),
        ("usergroups_users_list", {"usergroup": "S404"}, "no_such_subteam"),
    ],
)
def test_api_errors_are_ok_false(client: WebClient, method: str, kwargs: dict, error: str) -> None:
    with pytest.raises(SlackApiError) as raised:
        getattr(client, method)(**kwargs)
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error


def test_post_ephemeral_reaches_one_user(fs: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C1", user="U1", text="secret", blocks=[SECTION])
    assert answer["message_ts"]
    assert fs.ephemerals == [
        {
            "channel": "C1",
            "user": "U1",
            "text": "secret",
            "blocks": [SECTION],
            "source": "postEphemeral",
        }
    ]
    assert fs.all_posts() == []


def test_usergroup_members_permalink_and_user(fs: FakeSlack, client: WebClient) -> None:
    fs.usergroups = {"S123": ["U1", "U2"]}
    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]

    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    assert client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"].startswith("https://")
    assert client.users_info(user="U7")["user"]["id"] == "U7"


def test_wrong_or_missing_token_is_invalid_auth(fs: FakeSlack) -> None:
    for token in ("xoxb-wrong", None):
        with pytest.raises(SlackApiError) as raised:
            WebClient(token=token, base_url=fs.api_url).chat_postMessage(channel="C1", text="x")
        assert raised.value.response["error"] == "invalid_auth"
    assert fs.all_posts() == []


def test_token_may_come_as_a_form_parameter(fs: FakeSlack) -> None:
    request = urllib.request.Request(fs.api_url + "auth.test", data=f"token={TOKEN}".encode())
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["ok"] is True
    assert fs.calls == [("auth.test", {})], "the token is not recorded"


def test_unknown_method_is_404(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("chat.scheduleMessage", json={"channel": "C1"})
    assert raised.value.response.status_code == 404
    assert raised.value.response["error"] == "unknown_method"


def test_fail_next_answers_500_then_recovers(fs: FakeSlack, client: WebClient) -> None:
    fs.fail_next(1, method="chat.postMessage")
    client.auth_test()  # another method is untouched

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 500
    assert raised.value.response["error"] == "fatal_error"

    client.chat_postMessage(channel="C1", text="x")
    assert len(fs.all_posts()) == 1


def test_rate_limit_next_is_retried_by_the_sdk_handler(fs: FakeSlack) -> None:
    # Retry-After 0 keeps the test quick; the handler still waits up to a second of jitter.
    fs.rate_limit_next(1, retry_after=0)
    retrying = WebClient(
        token=TOKEN, base_url=fs.api_url, retry_handlers=[RateLimitErrorRetryHandler()]
    )

    retrying.chat_postMessage(channel="C1", text="x")

    assert [method for method, _ in fs.calls] == ["chat.postMessage", "chat.postMessage"]
    assert fs.rate_limited_count == 1
    assert len(fs.all_posts()) == 1


def test_rate_limited_answer_carries_retry_after(fs: FakeSlack, client: WebClient) -> None:
    fs.rate_limit_next(1, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"


def test_channel_rate_limits_each_channel_apart(fs: FakeSlack, client: WebClient) -> None:
    fs.enforce_channel_rate(per_second=1.0, burst=1)
    client.chat_postMessage(channel="C1", text="first")
    client.chat_postMessage(channel="C2", text="another channel has its own allowance")

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="too soon")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "1"
    assert fs.rate_limited_count == 1
    assert len(fs.all_posts()) == 2


def test_refuse_then_accept_connections_on_the_same_port(fs: FakeSlack, client: WebClient) -> None:
    port = fs.port
    fs.refuse_connections()
    with pytest.raises(URLError):
        client.auth_test()

    fs.accept_connections()
    assert fs.port == port
    assert client.auth_test()["ok"] is True


def test_delay_slows_every_answer(fs: FakeSlack, client: WebClient) -> None:
    fs.delay = 0.2
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2


def test_response_url_replace_original_edits_the_message(fs: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="Pending", blocks=[SECTION])["ts"]
    url = fs.response_url("click-1", channel="C1", ts=ts, user="U1")

    answer = WebhookClient(url).send(text="Approved", blocks=[], replace_original=True)
    assert (answer.status_code, answer.body) == (200, "ok")
    message = fs.find_message("C1", ts)
    assert message is not None
    assert (message["text"], message["blocks"], message["edits"]) == ("Approved", [], 1)

    WebhookClient(url).send(text="Only you can see this")
    assert fs.ephemerals[-1] == {
        "channel": "C1",
        "user": "U1",
        "text": "Only you can see this",
        "blocks": [],
        "source": "response_url",
    }
    assert [name for name, _ in fs.responses] == ["click-1", "click-1"]


def test_wait_for_and_wait_version_wake_on_change(fs: FakeSlack, client: WebClient) -> None:
    since = fs.version
    poster = threading.Timer(0.05, client.chat_postMessage, kwargs={"channel": "C1", "text": "x"})
    poster.start()
    try:
        assert fs.wait_for(lambda: len(fs.channel_messages("C1")) == 1, timeout=5)
        assert fs.wait_version(since, timeout=5) > since
    finally:
        poster.join()
    assert fs.wait_for(lambda: False, timeout=0.05) is False
    assert fs.wait_version(fs.version, timeout=0.05) == fs.version


MODAL = {
    "type": "modal",
    "callback_id": "cb",
    "title": {"type": "plain_text", "text": "Disable installation"},
    "blocks": [SECTION],
}


def test_views_open_update_and_publish_are_recorded(fs: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id="trig.1", view=MODAL)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "cb"
    assert fs.opened == [(opened["id"], {"trigger_id": "trig.1"})]
    changed = {**MODAL, "blocks": [SECTION, SECTION]}
    client.views_update(view_id=opened["id"], view=changed)
    assert fs.opened_views()[0]["blocks"] == [SECTION, SECTION]

    home = {"type": "home", "blocks": [SECTION]}
    client.views_publish(user_id="U1", view=home)
    assert fs.home("U1") is not None and fs.home("U1")["blocks"] == [SECTION]  # type: ignore[index]
    assert fs.home("U2") is None


@pytest.mark.parametrize(
    ("method", "kwargs", "error"),
    [
        ("views_open", {"trigger_id": "", "view": MODAL}, "invalid_trigger_id"),
        ("views_open", {"trigger_id": "t", "view": {**MODAL, "type": "home"}}, "invalid_arguments"),
        (
            "views_open",
            {
                "trigger_id": "t",
                "view": {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}},
            },
            "invalid_arguments",
        ),
        (
            "views_open",
            {"trigger_id": "t", "view": {**MODAL, "blocks": [SECTION] * 101}},
            "invalid_arguments",
        ),
        ("views_update", {"view_id": "VNOPE", "view": MODAL}, "not_found"),
        (
            "views_publish",
            {"user_id": "", "view": {"type": "home", "blocks": []}},
            "user_not_found",
        ),
        ("views_publish", {"user_id": "U1", "view": MODAL}, "invalid_arguments"),
    ],
)
def test_views_refuse_what_slack_refuses(
    client: WebClient, method: str, kwargs: dict, error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        getattr(client, method)(**kwargs)
    assert raised.value.response["error"] == error


# -- the workspace as `simsid-bot doctor` reads it ------------------------------------


def test_every_answer_names_the_granted_scopes(fs: FakeSlack, client: WebClient) -> None:
    fs.scopes.discard("users:read")
    header = client.auth_test().headers["x-oauth-scopes"]
    assert "chat:write" in header.split(",") and "users:read" not in header.split(",")
    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="U1")
    assert raised.value.response["error"] == "missing_scope"
    assert raised.value.response["needed"] == "users:read"


def test_conversations_info_as_slack_shows_each_channel(fs: FakeSlack, client: WebClient) -> None:
    shown = client.conversations_info(channel="C1")["channel"]
    assert (shown["is_member"], shown["is_archived"], shown["is_private"]) == (True, False, False)
    fs.set_channel("C2", name="old", archived=True)
    assert client.conversations_info(channel="C2")["channel"]["is_archived"] is True
    fs.set_channel("G3", private=True, member=False)
    fs.missing_channels.add("C4")
    for channel in ("G3", "C4"):
        with pytest.raises(SlackApiError) as raised:
            client.conversations_info(channel=channel)
        assert raised.value.response["error"] == "channel_not_found"


def test_unknown_deactivated_users_and_a_revoked_token(fs: FakeSlack, client: WebClient) -> None:
    fs.missing_users.add("U1")
    fs.deactivated_users.add("U2")
    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="U1")
    assert raised.value.response["error"] == "user_not_found"
    assert client.users_info(user="U2")["user"]["deleted"] is True
    fs.revoke_token()
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()
    assert raised.value.response["error"] == "token_revoked"
    fs.revoke_token(None)
    assert client.auth_test()["ok"] is True


# A block_id used twice: Slack refuses the whole payload.
TWICE = [{**SECTION, "block_id": "b"}, {**SECTION, "block_id": "b"}]
SAID_TWICE = '[ERROR] duplicate block_id "b" [json-pointer:/blocks/1/block_id]'


@pytest.mark.parametrize(
    ("method", "kwargs", "error", "said"),
    [
        ("chat_postMessage", {"channel": "C1", "text": "x", "blocks": TWICE}, "invalid_blocks", SAID_TWICE),  # noqa: E501
        ("chat_postEphemeral", {"channel": "C1", "user": "U1", "text": "x", "blocks": TWICE}, "invalid_blocks", SAID_TWICE),  # noqa: E501
        ("chat_update", {"channel": "C1", "text": "x", "blocks": TWICE}, "invalid_blocks", SAID_TWICE),  # noqa: E501
        ("chat_postMessage", {"channel": "C1", "text": "x" * 40_001}, "msg_too_long", "[ERROR] must be less than 40001 characters [json-pointer:/text]"),  # noqa: E501
        ("views_open", {"trigger_id": "t", "view": {**MODAL, "blocks": TWICE}}, "invalid_arguments", '[ERROR] duplicate block_id "b" [json-pointer:/view/blocks/1/block_id]'),  # noqa: E501
        ("views_push", {"trigger_id": "t", "view": {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}}, "invalid_arguments", "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"),  # noqa: E501
        ("views_update", {"view": {**MODAL, "blocks": [{**SECTION, "colour": "red"}]}}, "invalid_arguments", '[ERROR] unknown key "colour" [json-pointer:/view/blocks/0]'),  # noqa: E501
        ("views_publish", {"user_id": "U1", "view": {"type": "home", "blocks": [{**SECTION, "text": {"type": "mrkdwn", "text": ""}}]}}, "invalid_arguments", "[ERROR] must be more than 0 characters [json-pointer:/view/blocks/0/text/text]"),  # noqa: E501
    ],
)  # fmt: skip
def test_payloads_slack_would_refuse_are_refused_as_slack_does(
    fs: FakeSlack, client: WebClient, method: str, kwargs: dict, error: str, said: str
) -> None:
    # Something to update: a message, and an open modal.
    kwargs = dict(kwargs)
    if method == "chat_update":
        kwargs["ts"] = client.chat_postMessage(channel="C1", text="Pending")["ts"]
    if method == "views_update":
        kwargs["view_id"] = client.views_open(trigger_id="t", view=MODAL)["view"]["id"]
    before = (fs.all_posts(), fs.opened_views(), copy.deepcopy(fs.ephemerals), fs.home("U1"))

    with pytest.raises(SlackApiError) as raised:
        getattr(client, method)(**kwargs)

    answer = raised.value.response
    assert (answer.status_code, answer["ok"], answer["error"]) == (200, False, error)
    assert said in answer["response_metadata"]["messages"]
    assert (fs.all_posts(), fs.opened_views(), fs.ephemerals, fs.home("U1")) == before
    [refusal] = fs.refusals()
    assert (refusal.error, said in refusal.messages) == (error, True)
    assert refusal.method == method.replace("_", ".", 1)


def test_response_url_refuses_what_slack_would(fs: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="Pending", blocks=[SECTION])["ts"]
    url = fs.response_url("click-1", channel="C1", ts=ts, user="U1")
    label = {"type": "plain_text", "text": "x" * 76}
    button = {"type": "button", "action_id": "a", "value": "1", "text": label}
    blocks = [{"type": "actions", "block_id": "b", "elements": [button]}]

    answer = WebhookClient(url).send(text="Approved", blocks=blocks, replace_original=True)

    assert answer.status_code == 400
    body = json.loads(answer.body)
    assert (body["ok"], body["error"]) == (False, "invalid_blocks")
    said = "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    assert body["response_metadata"]["messages"] == [said]
    message = fs.find_message("C1", ts)
    assert message is not None and (message["text"], message["edits"]) == ("Pending", 0)
    assert fs.responses == [] and fs.ephemerals == []
    assert [(r.method, r.error) for r in fs.refusals()] == [("response_url", "invalid_blocks")]
