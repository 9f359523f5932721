"""The payload shapes Slack really sends, built as Slack's reference documents them,
signed as Slack signs them and dispatched to the Bolt app in process (what the bot makes
of a shape, not the HTTP edge): clicks on ephemeral messages (no `message`) and on the
Home tab (a `view`, no response_url), Enterprise Grid payloads (an `enterprise`,
`is_enterprise_install`, a user whose own workspace differs), people of a shared channel
from another workspace, and Events API retries (`X-Slack-Retry-Num`).

https://api.slack.com/reference/interaction-payloads/block-actions,
https://api.slack.com/enterprise/apps, https://api.slack.com/apis/events-api (retries).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import BotApp, create_app
from bot.sandbox import slack_payloads
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId, BlockId
from store.models import AuditEntry, Installation, State
from tests import harness
from tests.conftest import make_settings
from tests.faultkit import response_texts
from tests.harness import (
    ADMIN,
    CHANNEL,
    OUTSIDER,
    QUICK_PACE,
    TEAM_ID,
    Client,
    buttons,
    install_and_wait,
)

NOT_ALLOWED = "Only SIMS ID admins"
GRID = "E0GRIDORG"
GRID_ADMIN = "W0GRIDADMIN"  # Grid user ids start with W
SISTER_TEAM = "T0SISTER"  # another workspace of the same organisation
PARTNER_TEAM = "T0PARTNER"  # a workspace sharing the channel (Slack Connect)


@pytest.fixture
def grid(fake_slack: FakeSlack, sqlite_url: str) -> Iterator[tuple[BotApp, Client]]:
    """The bot with a Grid user among its admins, driven in process."""
    settings = make_settings(fake_slack, sqlite_url, simsid_admins=f"{ADMIN},{GRID_ADMIN},SADMINS")
    bot = create_app(settings, timings=QUICK_PACE)
    with harness.in_process(bot, fake_slack) as client:
        yield bot, client
    bot.delivery.stop()
    bot.db.dispose()


def _post(client: Client, payload: dict[str, Any]) -> harness.Response:
    return client.post_slack(slack_payloads.payload_form(payload))


def _state(bot: BotApp) -> State:
    with bot.db.read() as session:
        return State(session.scalars(select(Installation.state)).one())


def _audit_count(bot: BotApp) -> int:
    with bot.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _click(
    fs: FakeSlack,
    message: dict[str, Any],
    action_id: str,
    *,
    user: str = ADMIN,
    name: str = "click",
    **shape: Any,
) -> dict[str, Any]:
    return slack_payloads.block_actions(
        action_id,
        buttons(message)[action_id],
        user=user,
        team=TEAM_ID,
        channel=CHANNEL,
        message_ts=message["ts"],
        message={"type": "message", "ts": message["ts"], "bot_id": "B0SIMSID", "text": "x"},
        response_url=fs.response_url(name),
        trigger_id=f"trig.{time.time_ns()}",
        **shape,
    )


# -- where a click comes from ------------------------------------------------------------


def test_a_click_on_an_ephemeral_listing_has_no_message_and_is_answered_there(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """Slack sends no `message` for an ephemeral one: only its container, marked so."""
    install_and_wait(dispatched, fake_slack)
    listing = dispatched.slash("pending").json()
    approve = buttons(listing)[ActionId.APPROVE]
    payload = slack_payloads.block_actions(
        ActionId.APPROVE,
        approve,
        user=ADMIN,
        team=TEAM_ID,
        channel=CHANNEL,
        message_ts="1700000000.000100",
        is_ephemeral=True,
        message=None,
        response_url=fake_slack.response_url("listing"),
        trigger_id="trig.eph",
    )
    assert "message" not in payload and payload["container"]["is_ephemeral"] is True
    assert _post(dispatched, payload).status == 200
    assert fake_slack.wait_for(lambda: _state(bot) is State.ENABLED)
    assert fake_slack.wait_for(lambda: response_texts(fake_slack, "listing"))
    told = response_texts(fake_slack, "listing")[0]
    assert "Oakfield" in told and json.loads(told).get("response_type") == "ephemeral"


def test_a_click_on_the_home_tab_carries_the_view_and_is_answered_there(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    payload = slack_payloads.home_block_actions(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        user=ADMIN,
        team=TEAM_ID,
        trigger_id="trig.home",
    )
    assert payload["container"]["type"] == "view" and "response_url" not in payload
    assert _post(dispatched, payload).status == 200
    assert fake_slack.wait_for(lambda: _state(bot) is State.ENABLED)
    assert fake_slack.wait_for(lambda: fake_slack.home(ADMIN) is not None)


def test_a_non_admins_click_on_the_home_tab_is_refused_there(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    before = _audit_count(bot)
    payload = slack_payloads.home_block_actions(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        user=OUTSIDER,
        team=TEAM_ID,
        trigger_id="trig.home",
    )
    assert _post(dispatched, payload).status == 200
    assert fake_slack.wait_for(lambda: fake_slack.home(OUTSIDER) is not None)
    assert NOT_ALLOWED in json.dumps(fake_slack.home(OUTSIDER))
    harness.listeners_finished(bot)
    assert _state(bot) is State.PENDING and _audit_count(bot) == before


# -- Enterprise Grid ---------------------------------------------------------------------


@pytest.mark.parametrize("user_team", [TEAM_ID, SISTER_TEAM])
def test_a_grid_admin_acts_from_any_workspace_of_the_organisation(
    grid: tuple[BotApp, Client], fake_slack: FakeSlack, user_team: str
) -> None:
    """On Grid the user's own workspace may differ from the one the app is installed in;
    the request is the installed workspace's (`team`), and the admin is the W… id."""
    bot, client = grid
    message = install_and_wait(client, fake_slack)
    payload = _click(
        fake_slack,
        message,
        ActionId.APPROVE,
        user=GRID_ADMIN,
        user_team=user_team,
        enterprise_id=GRID,
    )
    assert payload["enterprise"]["id"] == GRID and payload["is_enterprise_install"] is False
    assert _post(client, payload).status == 200
    assert fake_slack.wait_for(lambda: _state(bot) is State.ENABLED)
    with bot.db.read() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "approve")
        ).all()
    assert actors == [GRID_ADMIN]


def test_a_grid_non_admin_is_refused(grid: tuple[BotApp, Client], fake_slack: FakeSlack) -> None:
    bot, client = grid
    message = install_and_wait(client, fake_slack)
    before = _audit_count(bot)
    payload = _click(
        fake_slack,
        message,
        ActionId.APPROVE,
        user="W0NOBODY",
        user_team=SISTER_TEAM,
        enterprise_id=GRID,
        name="nobody",
    )
    assert _post(client, payload).status == 200
    assert fake_slack.wait_for(
        lambda: any(NOT_ALLOWED in t for t in response_texts(fake_slack, "nobody"))
    )
    harness.listeners_finished(bot)
    assert _state(bot) is State.PENDING and _audit_count(bot) == before


def test_a_grid_admins_command_is_answered(
    grid: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    _, client = grid
    install_and_wait(client, fake_slack)
    form = slack_payloads.slash_command(
        "pending",
        user=GRID_ADMIN,
        team=TEAM_ID,
        channel=CHANNEL,
        response_url=fake_slack.response_url("gridcmd"),
        trigger_id="trig.gridcmd",
        enterprise_id=GRID,
    )
    answer = client.post_slack(form)
    assert answer.status == 200 and "Oakfield" in answer.body.decode()


@pytest.mark.parametrize("user_team", [TEAM_ID, SISTER_TEAM])
def test_an_org_wide_install_payload_without_a_workspace_changes_nothing(
    grid: tuple[BotApp, Client], fake_slack: FakeSlack, user_team: str
) -> None:
    """`team` is null in an org-wide install's payloads. The bot is installed in one
    workspace (manifest: org_deploy_enabled false), so Slack does not send these; one
    that arrives anyway is answered, without a traceback, and acts only for the bot's
    own workspace."""
    bot, client = grid
    message = install_and_wait(client, fake_slack)
    payload = _click(
        fake_slack,
        message,
        ActionId.APPROVE,
        user=GRID_ADMIN,
        user_team=user_team,
        enterprise_id=GRID,
        org_install=True,
        name="org",
    )
    assert payload["team"] is None
    assert _post(client, payload).status == 200
    harness.listeners_finished(bot)
    expected = State.ENABLED if user_team == TEAM_ID else State.PENDING
    assert _state(bot) is expected


# -- shared channels -----------------------------------------------------------------------


@pytest.mark.parametrize("team", [TEAM_ID, PARTNER_TEAM])
def test_a_partner_workspaces_user_in_a_shared_channel_is_refused(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp, team: str
) -> None:
    """Someone from another organisation clicks in a channel shared with it (their own
    team_id says where they come from; `team` may be theirs or this workspace): refused
    privately, as a non-admin or as another workspace, and nothing changes."""
    message = install_and_wait(dispatched, fake_slack)
    before = _audit_count(bot)
    payload = _click(
        fake_slack,
        message,
        ActionId.APPROVE,
        user="U0PARTNER",
        user_team=PARTNER_TEAM,
        name="partner",
    )
    payload["channel"]["is_ext_shared_channel"] = True
    payload["team"]["id"] = team
    refusal = NOT_ALLOWED if team == TEAM_ID else "not installed in this workspace"
    assert _post(dispatched, payload).status == 200
    assert fake_slack.wait_for(
        lambda: any(refusal in t for t in response_texts(fake_slack, "partner"))
    )
    harness.listeners_finished(bot)
    assert _state(bot) is State.PENDING and _audit_count(bot) == before


# -- Events API retries ------------------------------------------------------------------------


def _home_opened(client: Client, event_id: str, retry: int | None = None) -> harness.Response:
    body = slack_payloads.home_opened(user=ADMIN, team=TEAM_ID, event_id=event_id)
    retried = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    headers = {} if retry is None else retried
    return client.post_slack(body, content_type="application/json", check=False, headers=headers)


def _publishes(fs: FakeSlack) -> int:
    with fs.lock:
        return sum(1 for m, p in fs.calls if m == "views.publish" and p.get("user_id") == ADMIN)


def test_an_events_api_retry_is_answered_at_once_and_acted_on_once(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """Slack retries an event it thinks unanswered (at once after 3 s, then after 1 and 5
    minutes) with the same event_id: each try gets its 200 at once, and the event is
    acted on once."""
    install_and_wait(dispatched, fake_slack)
    assert _home_opened(dispatched, "Ev0RETRY1").status == 200
    assert fake_slack.wait_for(lambda: _publishes(fake_slack) == 1)
    for n in (1, 2, 3):
        started = time.monotonic()
        assert _home_opened(dispatched, "Ev0RETRY1", retry=n).status == 200
        assert time.monotonic() - started < 1.0
    harness.listeners_finished(bot)
    assert _publishes(fake_slack) == 1


def test_a_retry_of_an_event_that_never_arrived_is_acted_on(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    """The first try may not have reached the bot at all (connection_failed): its retry is
    the event, not a duplicate."""
    assert _home_opened(dispatched, "Ev0LOST1", retry=1).status == 200
    assert fake_slack.wait_for(lambda: _publishes(fake_slack) == 1)
    assert _home_opened(dispatched, "Ev0OTHER", retry=None).status == 200
    assert fake_slack.wait_for(lambda: _publishes(fake_slack) == 2)


def test_a_grid_admins_form_from_a_sister_workspace_is_carried_out(
    grid: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    """A view_submission names the workspace the app is installed in by
    `view.app_installed_team_id` when the person's own (`user.team_id`, `team`) differs."""
    bot, client = grid
    message = install_and_wait(client, fake_slack)
    client.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: _state(bot) is State.ENABLED)
    # The message refreshed to its enabled state: its buttons carry the new version.
    assert fake_slack.wait_for(
        lambda: ActionId.APPROVE not in buttons(fake_slack.channel_messages(CHANNEL)[0])
    )
    message = fake_slack.channel_messages(CHANNEL)[0]
    client.click(ActionId.DISABLE, buttons(message)[ActionId.DISABLE], message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) == 1)
    view = fake_slack.opened_views()[0]
    # The reason only: the form's other input is the optional end of a maintenance window.
    payload = slack_payloads.view_submission(
        view,
        {BlockId.REASON.value: "term ended"},
        user=GRID_ADMIN,
        team=SISTER_TEAM,
        trigger_id="trig.gridform",
    )
    payload["enterprise"] = {"id": GRID, "name": "Grid Org"}
    payload["team"] |= {"enterprise_id": GRID}
    payload["view"]["app_installed_team_id"] = TEAM_ID
    answer = _post(client, payload)
    assert answer.status == 200 and not answer.body.strip(), answer.body
    assert _state(bot) is State.DISABLED
    with bot.db.read() as session:
        actor = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "disable")
        ).one()
    assert actor == GRID_ADMIN
