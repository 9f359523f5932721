"""Listeners without catch-alls: the admin middleware and the one error handler.

A slow admin check (Slack slow to list a user group) still acks within Slack's
3 seconds and then answers, refuses, or lets the click through; an unexpected error in
a listener reaches @app.error, which logs it with an id the person is shown.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.app import BotApp, create_app
from bot.config import Settings
from bot.sandbox import slack_payloads
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from tests import harness
from tests.faultkit import response_texts
from tests.harness import CHANNEL, OTHER_ADMIN, OUTSIDER, Client, buttons, install_and_wait

NOT_ALLOWED = "Only SIMS ID admins"
# The bot's answer deadline here, and a Slack slower than it: the slow path without
# waiting Slack's real 3 seconds.
QUICK = 0.1
SLOW_SLACK = 0.6


@pytest.fixture
def bot(settings: Settings) -> Iterator[BotApp]:
    app = create_app(settings, answer_deadline=QUICK)
    yield app
    app.delivery.stop()
    app.db.dispose()


def _said(fs: FakeSlack, name: str, words: str) -> bool:
    return any(words in t for t in response_texts(fs, name))


def test_a_slow_admin_check_acks_in_time_then_answers(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    install_and_wait(dispatched, fake_slack)
    fake_slack.delay = SLOW_SLACK  # the group lookup for OTHER_ADMIN is slow
    reply = dispatched.slash("pending", user=OTHER_ADMIN, response_name="slow")
    assert reply.status == 200 and "Working on it" in reply.body.decode()
    assert fake_slack.wait_for(lambda: _said(fake_slack, "slow", "Oakfield Primary"), 15)


def test_a_slow_admin_check_still_refuses_a_non_admin_privately(
    dispatched: Client, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake_slack.delay = SLOW_SLACK
    reply = dispatched.slash("pending", user=OUTSIDER, response_name="slow-outsider")
    assert reply.status == 200 and "Working on it" in reply.body.decode()
    assert fake_slack.wait_for(lambda: _said(fake_slack, "slow-outsider", NOT_ALLOWED), 15)
    assert not _said(fake_slack, "slow-outsider", "Oakfield")
    assert f"refused /simsid from non-admin {OUTSIDER}" in caplog.text


def test_a_slow_admin_check_lets_a_group_admins_click_through(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    fake_slack.delay = SLOW_SLACK
    answer = dispatched.click(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        user=OTHER_ADMIN,
        message_ts=message["ts"],
    )
    assert answer.status == 200
    assert fake_slack.wait_for(
        lambda: set(buttons(fake_slack.channel_messages(CHANNEL)[0])) == {ActionId.DISABLE}, 20
    )


def test_an_unexpected_error_is_answered_with_the_id_the_log_holds(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp, caplog: pytest.LogCaptureFixture
) -> None:
    message = install_and_wait(dispatched, fake_slack)
    # A real failure the bot has no answer for: the database refuses every state change.
    with bot.db.session() as session:
        session.execute(
            text(
                "CREATE TRIGGER refuse_changes BEFORE UPDATE ON installation "
                "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
            )
        )
    answer = dispatched.click(
        ActionId.APPROVE,
        buttons(message)[ActionId.APPROVE],
        message_ts=message["ts"],
        response_name="boom",
    )
    assert answer.status == 200
    assert fake_slack.wait_for(lambda: _said(fake_slack, "boom", "error id"), 15)
    [said] = response_texts(fake_slack, "boom")
    found = re.search(r"error id `([0-9a-f]{8})`", said)
    assert found, said
    logged = [r for r in caplog.records if r.name == "bot.errors"]
    assert [r.getMessage() for r in logged] == [f"unexpected error {found[1]}: IntegrityError"]
    assert logged[0].exc_info is not None  # with its traceback, for whoever runs the bot
    assert "Traceback" not in said


def test_a_non_admins_form_submission_is_refused_in_the_form(dispatched: Client) -> None:
    view = {"id": "V0FORM", "type": "modal", "callback_id": "any_form", "blocks": []}
    payload = slack_payloads.view_submission(
        view, {}, user=OUTSIDER, team=harness.TEAM_ID, trigger_id="trig.form"
    )
    form = slack_payloads.payload_form(payload)
    answer = dispatched.post_slack(form)
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "update"
    assert NOT_ALLOWED in json.dumps(body["view"]["blocks"])
