"""Deciding from a list in Slack, signed as Slack signs and dispatched to the Bolt app in
process: `/simsid approve APP` opens the list modal, its preview replaces it, and
submitting the preview approves exactly what it showed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import BotApp, create_app
from bot.sandbox import slack_payloads
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId, decide_ids_block
from store.models import AuditEntry, Installation, State
from tests import harness
from tests.conftest import make_settings
from tests.faultkit import buttons, install_and_wait, wait_until
from tests.harness import ADMIN, CHANNEL, QUICK_PACE, TEAM_ID, Client


@pytest.fixture
def listed(fake_slack: FakeSlack, db_url: str) -> Iterator[tuple[BotApp, Client]]:
    bot = create_app(make_settings(fake_slack, db_url), timings=QUICK_PACE)
    with harness.in_process(bot, fake_slack) as client:
        yield bot, client
    bot.delivery.stop()
    bot.db.dispose()


def _submit(client: Client, view: dict[str, Any], typed: dict[str, str | None]) -> Any:
    """The bot's answer to the form `view` submitted with `typed` (checked as Slack would)."""
    payload = slack_payloads.view_submission(
        {"id": "VLIST1", **view}, typed, user=ADMIN, team=TEAM_ID, trigger_id="trig.list"
    )
    answer = client.post_slack(slack_payloads.payload_form(payload))
    assert answer.status == 200, answer.body
    return answer.json()


def _states(bot: BotApp) -> dict[str, State]:
    with bot.db.read() as session:
        rows = session.execute(select(Installation.site_id, Installation.state)).all()
    return {site: State(state) for site, state in rows}


def test_a_list_is_previewed_then_exactly_the_preview_is_approved(
    listed: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    bot, client = listed
    sites = [
        ("site-a", "Alpha School", "100001", "823/4001"),
        ("site-b", "Beta School", "100002", "823/4002"),
        ("site-c", "Gamma School", "100003", "823/4003"),
    ]
    messages = {
        site: install_and_wait(client, fake_slack, site_id=site, site_name=name, urn=urn, dfe=dfe)
        for site, name, urn, dfe in sites
    }
    client.click(
        ActionId.APPROVE,
        buttons(messages["site-c"])[ActionId.APPROVE],
        message_ts=messages["site-c"]["ts"],
    )
    assert wait_until(lambda: _states(bot)["site-c"] is State.ENABLED, 10)
    before = len(fake_slack.opened)

    assert client.slash("approve Homework Hub").status == 200
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) > before), "no modal opened"
    form = fake_slack.opened_views()[before]

    typed: dict[str, str | None] = {decide_ids_block(0): "100001, 8234001\n100002 100003 999999"}
    preview = _submit(client, form, typed)

    shown = json.dumps(preview)
    assert preview["response_action"] == "update"
    assert "*2 installations* of *Homework Hub* will be approved" in shown
    assert "8234001: same school as 100001" in shown
    assert "Gamma School is enabled" in shown and "999999" in shown
    assert preview["view"]["submit"]["text"] == "Approve 2"
    assert _states(bot)["site-a"] is State.PENDING

    # Meanwhile someone approves Beta one at a time: the batch skips it and says so.
    client.click(
        ActionId.APPROVE,
        buttons(messages["site-b"])[ActionId.APPROVE],
        message_ts=messages["site-b"]["ts"],
    )
    assert wait_until(lambda: _states(bot)["site-b"] is State.ENABLED, 10)

    outcome = _submit(client, preview["view"], {})

    assert "1 installation" in json.dumps(outcome) and "Beta School" in json.dumps(outcome)
    assert _states(bot)["site-a"] is State.ENABLED
    with bot.db.read() as session:
        details = list(
            session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "approve"))
        )
    assert sum(1 for d in details if d and d.startswith("batch ")) == 1
    assert fake_slack.wait_for(
        lambda: any(
            "from a list" in json.dumps(m) and "Beta School" in json.dumps(m)
            for m in fake_slack.channel_messages(CHANNEL)
        )
    )
    assert fake_slack.wait_for(
        lambda: (
            set(buttons(fake_slack.find_message(CHANNEL, messages["site-a"]["ts"]) or {}))
            == {ActionId.DISABLE}
        )
    )
    again = _submit(client, preview["view"], {})
    assert "sent already" in json.dumps(again)


def test_disable_from_a_list_needs_a_reason_and_the_listing_has_the_button(
    listed: tuple[BotApp, Client], fake_slack: FakeSlack
) -> None:
    bot, client = listed
    message = install_and_wait(client, fake_slack, urn="100001", dfe="823/4001")
    client.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert wait_until(lambda: set(_states(bot).values()) == {State.ENABLED}, 10)
    listing = client.slash("app Homework Hub").json()
    assert ActionId.DECIDE_LIST in buttons(listing)
    before = len(fake_slack.opened)

    assert client.slash("disable app-homework").status == 200
    assert fake_slack.wait_for(lambda: len(fake_slack.opened) > before), "no modal opened"
    form = fake_slack.opened_views()[before]
    ids = {decide_ids_block(0): "823-4001"}

    refused = _submit(client, form, ids)
    assert refused["response_action"] == "errors" and "simsid_reason" in refused["errors"]
    preview = _submit(client, form, {**ids, "simsid_reason": "unpaid invoice"})
    assert preview["view"]["submit"]["text"] == "Disable 1"
    _submit(client, preview["view"], {})

    assert set(_states(bot).values()) == {State.DISABLED}
    with bot.db.read() as session:
        reasons = list(
            session.scalars(select(AuditEntry.reason).where(AuditEntry.action == "disable"))
        )
    assert reasons == ["unpaid invoice"]
