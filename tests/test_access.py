"""Who gets in: replayed requests, non-admins, people leaving an admin group, other teams.

Extends test_scenario_slack.py (forged, stale and unsigned requests, a non-admin's
basic commands): here every command and every kind of button, the logs of refusals,
replays of a correctly signed body, and the admin group cache.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.app import BotApp
from bot.sandbox import slack_payloads
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.admins import CACHE_SECONDS, Admins
from bot.slack.ids import ActionId, encode_page, encode_site
from store.models import AuditEntry, Installation, OutboxItem
from tests import harness
from tests.conftest import TEST_KEY
from tests.faultkit import buttons, install_and_wait, response_texts, wait_until
from tests.harness import ADMIN, CHANNEL, OTHER_ADMIN, OUTSIDER, QUICK_PACE, Client

NOT_ALLOWED = "Only SIMS ID admins"


def _counts(bot: BotApp) -> tuple[int, int, int, list[tuple[str, int]]]:
    """(audit rows, outbox rows, installations, [(state, version)]): what a refusal must
    leave untouched."""
    with bot.db.read() as session:
        audit = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        outbox = session.scalar(select(func.count()).select_from(OutboxItem)) or 0
        rows = session.execute(
            select(Installation.state, Installation.version).order_by(Installation.id)  # type: ignore[arg-type]
        ).all()
    return int(audit), int(outbox), len(rows), [(str(s), int(v)) for s, v in rows]


def _enabled(client: Client, fs: FakeSlack) -> dict[str, Any]:
    """An installation approved by an admin; returns its channel message."""
    message = install_and_wait(client, fs)
    client.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fs.wait_for(lambda: set(buttons(fs.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE})
    return fs.channel_messages(CHANNEL)[0]


def _click_form(
    action_id: str, value: str, *, user: str, message_ts: str, response_url: str
) -> str:
    """A block_actions body exactly as Slack would send it, to be replayed byte for byte."""
    payload = slack_payloads.block_actions(
        action_id,
        value,
        user=user,
        team=harness.TEAM_ID,
        channel=CHANNEL,
        message_ts=message_ts,
        message={"ts": message_ts, "type": "message"},
        response_url=response_url,
        trigger_id="trig.replay",
    )
    return slack_payloads.payload_form(payload)


# -- replays ---------------------------------------------------------------------------


def test_replayed_slash_command_is_answered_twice(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    """A signed body inside Slack's 5-minute window is valid twice (Slack retries too):
    a read-only command answers the same both times."""
    install_and_wait(dispatched, fake_slack)
    form = slack_payloads.slash_command(
        "pending",
        user=ADMIN,
        team=harness.TEAM_ID,
        channel=CHANNEL,
        response_url=fake_slack.response_url("replayed"),
        trigger_id="t.1",
    )
    signed_at = int(time.time())  # one timestamp: the same body and signature both times
    first = dispatched.post_slack(form, timestamp=signed_at)
    second = dispatched.post_slack(form, timestamp=signed_at)
    assert first.status == second.status == 200
    assert "Oakfield Primary" in first.body.decode()
    assert first.json()["blocks"] == second.json()["blocks"]


def test_replayed_click_applies_once_and_the_replay_is_refused_as_stale(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    form = _click_form(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        user=ADMIN,
        message_ts=message["ts"],
        response_url=fake_slack.response_url("replay"),
    )
    signed_at = int(time.time())
    assert dispatched.post_slack(form, timestamp=signed_at).status == 200
    assert wait_until(lambda: _counts(bot)[3] == [("enabled", 2)], timeout=10)
    assert dispatched.post_slack(form, timestamp=signed_at).status == 200

    # The button carried version 1; the installation is at 2: the replay changes nothing
    # and is told who acted.
    assert fake_slack.wait_for(lambda: len(response_texts(fake_slack, "replay")) == 1)
    [told] = response_texts(fake_slack, "replay")
    assert "Already enabled" in told and f"<@{ADMIN}>" in told
    with bot.db.read() as session:
        approvals = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "approve")
        )
    assert approvals == 1
    assert _counts(bot)[3] == [("enabled", 2)]


# -- non-admins ------------------------------------------------------------------------


def test_non_admin_is_refused_every_command_and_button_and_each_is_logged(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    message = _enabled(dispatched, fake_slack)
    dispatched.install(event_id="evt_second", site_id="site-elm", site_name="Elm School")
    assert fake_slack.wait_for(lambda: len(fake_slack.channel_messages(CHANNEL)) == 2)
    secret = re.search(
        r"`([A-Za-z0-9_-]{43})`",
        dispatched.private_reply(fake_slack, "secret app-homework site-oak"),
    )
    assert secret is not None
    before = _counts(bot)
    caplog.clear()

    commands = [
        "",
        "help",
        "apps",
        "app homework",
        "customers",
        "customers oak",
        "customer oak",
        "pending",
        "secret app-homework site-oak",
        "audit homework",
        "audit homework oak",
        "nonsense",
    ]
    for text in commands:
        # The admin check refuses before any listener: in the acknowledgement, even for
        # `secret` (whose admins' answer goes through the response_url only).
        reply = dispatched.slash(text, user=OUTSIDER)
        assert reply.status == 200
        said = reply.body.decode()
        assert NOT_ALLOWED in said, text
        assert "ck_" not in said

    # Every kind of button the bot draws, with values taken from what admins see.
    pending_message = fake_slack.channel_messages(CHANNEL)[1]
    clicks = [
        *buttons(message).items(),
        *buttons(pending_message).items(),
        (ActionId.PAGE, encode_page("customers", "", after=("customer 20", "s20"))),
        (
            ActionId.PAGE_PREVIOUS,
            encode_page("pending", "", before=("2026-11-27T09:00:00+00:00", 1)),
        ),
        (ActionId.DISABLE_ALL, encode_site("site-oak")),
        (ActionId.RETRY_UPSTREAM, "1"),
    ]
    for n, (action_id, value) in enumerate(clicks):
        answer = dispatched.click(action_id, value, user=OUTSIDER, response_name=f"outsider{n}")
        assert answer.status == 200
    assert fake_slack.wait_for(
        lambda: all(
            any(NOT_ALLOWED in t for t in response_texts(fake_slack, f"outsider{n}"))
            for n in range(len(clicks))
        )
    )
    assert _counts(bot) == before  # nothing changed, nothing audited, nothing queued

    refusals = [r for r in caplog.records if "from non-admin" in r.getMessage()]
    assert len([r for r in refusals if "/simsid" in r.getMessage()]) == len(commands)
    assert len([r for r in refusals if "button" in r.getMessage()]) == len(clicks)
    assert all(OUTSIDER in r.getMessage() for r in refusals)
    logged = caplog.text
    for secret_value in (
        secret[1],
        harness.SIGNING_SECRET,
        harness.WEBHOOK_SECRET,
        TEST_KEY,
        "xoxb-test",
    ):
        assert secret_value not in logged


# -- the admin group cache ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_removed_from_admin_group_loses_access_within_the_cache_time(
    fake_slack: FakeSlack,
) -> None:
    """The bot's Admins is built inside create_app, out of a test's reach, so this builds
    one the same way with a fake clock and a real WebClient pointed at FakeSlack."""
    clock = FakeClock()
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    admins = Admins(frozenset({ADMIN}), ("SADMINS",), client, clock=clock)

    assert admins.is_admin(OTHER_ADMIN)  # a member of SADMINS
    assert admins.is_admin(ADMIN) and not admins.is_admin(OUTSIDER) and not admins.is_admin("")
    fake_slack.usergroups["SADMINS"] = []  # removed from the group in Slack

    clock.now += CACHE_SECONDS - 1
    assert admins.is_admin(OTHER_ADMIN)  # still cached: at most CACHE_SECONDS of grace
    clock.now += 2
    assert not admins.is_admin(OTHER_ADMIN)  # gone within the cache time
    assert CACHE_SECONDS <= 60

    # Added back: access returns at the next lookup after the cache expires.
    fake_slack.usergroups["SADMINS"] = [OTHER_ADMIN]
    clock.now += CACHE_SECONDS + 1
    assert admins.is_admin(OTHER_ADMIN)


def test_admin_group_lookup_fails_closed_without_a_cached_answer(fake_slack: FakeSlack) -> None:
    clock = FakeClock()
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, timeout=2)
    cold = Admins(frozenset(), ("SADMINS",), client, clock=clock)
    # One failed lookup (this client does not retry a 500).
    fake_slack.fail_next(1, status=500, method="usergroups.users.list")
    assert not cold.is_admin(OTHER_ADMIN)  # Slack cannot say: refuse

    warm = Admins(frozenset(), ("SADMINS",), client, clock=clock)
    assert warm.is_admin(OTHER_ADMIN)
    fake_slack.refuse_connections()
    try:
        clock.now += CACHE_SECONDS + 1
        # Documented choice: while Slack cannot be asked, the last answer stands.
        assert warm.is_admin(OTHER_ADMIN)
    finally:
        fake_slack.accept_connections()
    fake_slack.usergroups["SADMINS"] = []
    assert not warm.is_admin(OTHER_ADMIN)  # Slack is back: the removal takes effect


def test_wrong_token_for_group_lookup_refuses(fake_slack: FakeSlack) -> None:
    """A group the token cannot read (invalid_auth, no_such_subteam) grants nothing."""
    admins = Admins(
        frozenset(),
        ("SADMINS", "SNOSUCH"),
        WebClient(token="xoxb-wrong", base_url=fake_slack.api_url),
    )
    assert not admins.is_admin(OTHER_ADMIN)


# -- other workspaces ------------------------------------------------------------------


def test_requests_from_another_workspace_are_refused(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    message = install_and_wait(dispatched, fake_slack)
    before = _counts(bot)
    for action_id, value in buttons(message).items():
        answer = dispatched.click(
            action_id, value, team="TOTHER", message_ts=message["ts"], response_name="other"
        )
        assert answer.status == 200
    for text in ("pending", "apps", "secret app-homework site-oak", "audit homework"):
        reply = dispatched.slash(text, team="TOTHER")
        assert reply.status == 200
        assert "Oakfield" not in reply.body.decode() and "ck_" not in reply.body.decode()
    harness.listeners_finished(bot)  # a listener that wrongly ran has answered by now
    assert _counts(bot) == before
    # Bolt tells the person, privately, and nothing else is said.
    told = response_texts(fake_slack, "other")
    assert told and all("not installed in this workspace" in t for t in told)
    assert "refused a request from another workspace (TOTHER)" in caplog.text


@pytest.mark.parametrize("action_id", [ActionId.APPROVE, ActionId.CONFIRM_REMOVAL])
def test_a_tampered_button_value_is_told_apart_and_changes_nothing(
    bot: BotApp, dispatched: Client, fake_slack: FakeSlack, action_id: ActionId
) -> None:
    install_and_wait(dispatched, fake_slack)
    with bot.db.read() as session:
        before = session.scalar(select(func.count()).select_from(AuditEntry))

    answer = dispatched.click(action_id, "not-an-installation", response_name="tampered")

    assert answer.status == 200
    assert wait_until(
        lambda: any("not one of mine" in t for t in response_texts(fake_slack, "tampered")), 10
    )
    with bot.db.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_a_paging_button_naming_secret_reveals_nothing(
    bot: BotApp, dispatched: Client, fake_slack: FakeSlack
) -> None:
    """A page button's value is the client's: one naming `secret` is not run as the command,
    so no secret replaces the message it sat on (the channel's install message, the Home
    tab) and no view is audited."""
    message = install_and_wait(dispatched, fake_slack)
    dispatched.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert wait_until(lambda: _counts(bot)[3] == [("enabled", 2)], 10)
    forged = encode_page("secret", "app-homework site-oak")
    dispatched.click(ActionId.PAGE, forged, message_ts=message["ts"], response_name="forged")
    dispatched.click_home(ActionId.PAGE, forged)
    assert fake_slack.wait_for(lambda: response_texts(fake_slack, "forged"), 10)
    assert fake_slack.wait_for(lambda: fake_slack.home(ADMIN) is not None, 10)
    everywhere = "".join(response_texts(fake_slack, "forged")) + str(fake_slack.home(ADMIN))
    everywhere += str(fake_slack.all_posts())
    assert not re.search(r"\bck_\w", everywhere)  # no client key (":white_check_mark:" is fine)
    with bot.db.read() as session:
        viewed = select(func.count()).where(AuditEntry.action == "secret_viewed")
        assert session.scalar(viewed) == 0


# -- payload types and whose id counts -------------------------------------------------------


def _post_payload(client: Client, payload: dict[str, Any]) -> harness.Response:
    return client.post_slack(slack_payloads.payload_form(payload))


def _legacy(kind: str, action_id: str, value: str, user: str) -> dict[str, Any]:
    """An interaction of a kind the bot never draws, shaped so that Bolt routes it to the
    `app.action` listener of `action_id` (by callback_id) and the listener finds its
    action_id and value where it looks for them."""
    action = {"action_id": action_id, "name": action_id, "type": "button", "value": value}
    payload: dict[str, Any] = {
        "type": kind,
        "callback_id": action_id,
        "team": {"id": harness.TEAM_ID, "domain": "sandbox"},
        "user": {"id": user, "name": user.lower(), "team_id": harness.TEAM_ID},
        "channel": {"id": CHANNEL, "name": "installs"},
        "api_app_id": slack_payloads.API_APP_ID,
        "token": "unused",
        "trigger_id": "trig.legacy",
        "response_url": "https://hooks.invalid/legacy",
    }
    if kind == "interactive_message":
        payload["actions"] = [action]
    else:  # Bolt hands the whole body to the listener as its "action"
        payload.update(action_id=action_id, value=value, submission={})
    return payload


@pytest.mark.parametrize("user", [OUTSIDER, ADMIN])
@pytest.mark.parametrize(
    "kind",
    [
        "interactive_message",
        "dialog_submission",
        "dialog_cancellation",
        "workflow_step_edit",
        "shortcut",
        "message_action",
        "block_suggestion",
        "view_closed",
    ],
)
def test_interaction_types_the_bot_never_draws_are_refused_and_change_nothing(
    dispatched: Client,
    fake_slack: FakeSlack,
    bot: BotApp,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    user: str,
) -> None:
    """Bolt routes these to the same `app.action` listeners as a button: a signed
    interactive_message from an outsider approved an installation. Each is acked and
    refused, whoever sends it: the bot draws no attachment, dialog or workflow step, and
    has no shortcut, menu or modal that reports its closing."""
    caplog.set_level(logging.INFO)
    message = install_and_wait(dispatched, fake_slack)
    before = _counts(bot)
    answer = _post_payload(
        dispatched, _legacy(kind, ActionId.APPROVE, buttons(message)[ActionId.APPROVE], user)
    )
    assert answer.status == 200
    assert not answer.body.strip()
    harness.listeners_finished(bot)
    assert _counts(bot) == before
    assert f"refused a {kind} interaction" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def _submission(
    view: dict[str, Any], reason: str, user: dict[str, Any], **top: Any
) -> dict[str, Any]:
    inputs = [b["block_id"] for b in view.get("blocks") or [] if b.get("type") == "input"]
    payload = slack_payloads.view_submission(
        view, dict.fromkeys(inputs, reason), user=ADMIN, team=harness.TEAM_ID, trigger_id="t.s"
    )
    return {**payload, "user": user, **top}


@pytest.mark.parametrize("acting", ["sims-id", "system", "import", OUTSIDER])
def test_the_admin_check_reads_the_user_the_action_is_recorded_as(
    fake_slack: FakeSlack, sqlite_url: str, acting: str
) -> None:
    """The check read a top-level `user_id` (an admin's) while the listener acted as
    `user.id`: a submission whose `user.id` was `sims-id` removed at once, skipping the
    two-person rule. Now the one id the action is recorded as is the one checked, and
    only an id of Slack's shape may act."""
    from bot.app import create_app
    from tests.conftest import make_settings

    bot = create_app(
        make_settings(fake_slack, sqlite_url, simsid_remove_approvals=2), timings=QUICK_PACE
    )
    try:
        with harness.in_process(bot, fake_slack) as dispatched:
            message = _enabled(dispatched, fake_slack)
            dispatched.decide(fake_slack, ActionId.DISABLE, buttons(message)[ActionId.DISABLE], "x")
            assert fake_slack.wait_for(
                lambda: ActionId.REMOVE in buttons(fake_slack.channel_messages(CHANNEL)[0])
            )
            message = fake_slack.channel_messages(CHANNEL)[0]
            dispatched.click(
                ActionId.REMOVE, buttons(message)[ActionId.REMOVE], message_ts=message["ts"]
            )
            assert fake_slack.wait_for(lambda: len(fake_slack.opened) == 2)
            before = _counts(bot)
            forged_user = {"id": acting, "username": "x", "team_id": harness.TEAM_ID}
            payload = _submission(fake_slack.opened_views()[1], "gone", forged_user, user_id=ADMIN)
            answer = _post_payload(dispatched, payload)
            assert answer.status == 200
            assert NOT_ALLOWED in answer.body.decode()
            harness.listeners_finished(bot)
            assert _counts(bot) == before
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_a_click_whose_user_is_not_a_slack_id_is_refused(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    before = _counts(bot)
    payload = slack_payloads.block_actions(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        user="sims-id",
        team=harness.TEAM_ID,
        channel=CHANNEL,
        message_ts=message["ts"],
        message={"ts": message["ts"], "type": "message"},
        response_url=fake_slack.response_url("reserved"),
        trigger_id="trig.reserved",
    )
    assert _post_payload(dispatched, {**payload, "user_id": ADMIN}).status == 200
    assert fake_slack.wait_for(
        lambda: any(NOT_ALLOWED in t for t in response_texts(fake_slack, "reserved"))
    )
    harness.listeners_finished(bot)
    assert _counts(bot) == before


def test_a_slack_user_id_never_matches_a_reserved_actor() -> None:
    from bot.slack.listeners.surfaces import acting_user
    from store.lifecycle import RESERVED_ACTORS

    assert {"sims-id", "system", "import"} <= RESERVED_ACTORS
    for reserved in RESERVED_ACTORS:
        assert acting_user({"type": "block_actions", "user": {"id": reserved}}) is None
        assert acting_user({"command": "/simsid", "user_id": reserved}) is None
    for bad in ("", "U", "u0ABC", "U0AB-C", "U0ABC\n", " U0ABC", "S0GROUP", "B0BOT", "U" * 70):
        assert acting_user({"type": "block_actions", "user": {"id": bad}}) is None
    assert acting_user({"type": "block_actions", "user": {"id": "U0ABC123"}}) == "U0ABC123"
    assert acting_user({"type": "view_submission", "user": {"id": "W0GRID1"}}) == "W0GRID1"
    # The id the action is recorded as, never a second one beside it.
    assert acting_user({"type": "view_submission", "user_id": "U0ADMIN", "user": {}}) is None
    assert acting_user({"command": "/simsid", "user_id": "U0ADMIN", "user": {"id": "U0X"}}) == (
        "U0ADMIN"
    )


def test_a_workflow_step_submission_is_refused_without_a_traceback(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp, caplog: pytest.LogCaptureFixture
) -> None:
    """A view_submission of a workflow step's view (the bot opens only modals) made Bolt
    raise while building the middleware's arguments: 500, with a traceback."""
    caplog.set_level(logging.INFO)
    view = {"id": "V0STEP", "type": "workflow_step", "callback_id": "simsid_reason", "blocks": []}
    payload = slack_payloads.view_submission(
        view, {}, user=ADMIN, team=harness.TEAM_ID, trigger_id="trig.step"
    )
    answer = _post_payload(dispatched, payload)
    assert answer.status == 200 and not answer.body.strip()
    assert "refused a view_submission not of a modal interaction" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_an_interaction_carrying_a_command_field_is_still_an_interaction() -> None:
    """The kind is decided once, and the same way for the check and the listeners: a
    payload with a `type` is an interaction whatever else it carries."""
    from bot.slack.listeners.surfaces import acting_user

    forged = {"type": "block_actions", "command": "/simsid", "user_id": "U0ADMIN"}
    assert acting_user({**forged, "user": {"id": "sims-id"}}) is None
    assert acting_user({**forged, "user": {"id": "U0CLICKER"}}) == "U0CLICKER"
