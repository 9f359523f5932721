"""Every listener, imported and run alone: called with the arguments Bolt would give it
(a real Ack, a Respond aimed at the Slack stand-in, the app's own services in the context),
or dispatched in process (`app.dispatch(BoltRequest(...))`, signed as Slack signs), with
a short answer deadline instead of Slack's 3 seconds."""

from __future__ import annotations

import contextvars
import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, BoltContext, BoltRequest, BoltResponse, Respond

from bot.app import BotApp, create_app
from bot.sandbox import slack_payloads
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import (
    ActionId,
    CallbackId,
    DecideAsk,
    ReasonAsk,
    decide_ids_block,
    encode_decide,
    encode_installation,
    encode_page,
    encode_reason_ask,
    encode_site,
)
from bot.slack.listeners.actions.decide_list import decide_list_button
from bot.slack.listeners.actions.disable_all import disable_all_button
from bot.slack.listeners.actions.extend import extend_button
from bot.slack.listeners.actions.installation import installation_button
from bot.slack.listeners.actions.paging import page_button
from bot.slack.listeners.actions.removal import removal_button
from bot.slack.listeners.actions.retry_upstream import retry_upstream_button
from bot.slack.listeners.commands.simsid import simsid_command
from bot.slack.listeners.errors import ErrorHandler
from bot.slack.listeners.events.app_home_opened import app_home_opened
from bot.slack.listeners.events.token_revoked import app_uninstalled, tokens_revoked
from bot.slack.listeners.views.decide_submitted import list_submitted, preview_confirmed
from bot.slack.listeners.views.reason_submitted import reason_submitted
from bot.slack.services import KEY
from store import refusals
from store.db import DatabaseUnavailable
from store.models import State
from testing import signed
from tests import harness
from tests.conftest import make_settings
from tests.factories import get, install
from tests.faultkit import response_texts
from tests.harness import ADMIN, CHANNEL, OTHER_ADMIN, TEAM_ID

# Short, so a slow Slack (FakeSlack.delay, a few times longer) makes an answer late.
QUICK = 0.1
SLOW_SLACK = 0.6


@pytest.fixture
def bot(fake_slack: FakeSlack, db_url: str) -> Iterator[BotApp]:
    app = create_app(make_settings(fake_slack, db_url), answer_deadline=QUICK)
    yield app
    app.delivery.stop()
    app.db.dispose()


def _context(bot: BotApp) -> BoltContext:
    return BoltContext({KEY: bot.services})


def _click(fs: FakeSlack, action_id: str, value: str, name: str) -> dict[str, Any]:
    return slack_payloads.block_actions(
        action_id,
        value,
        user=ADMIN,
        team=TEAM_ID,
        channel=CHANNEL,
        message_ts="1.000",
        is_ephemeral=True,
        response_url=fs.response_url(name),
        trigger_id=f"trig.{name}",
    )


def _press(bot: BotApp, fs: FakeSlack, listener: Any, action_id: str, value: str) -> str:
    """Call a button's listener as Bolt would; what it told the clicker, once told."""
    body = _click(fs, action_id, value, "press")
    ack = Ack()
    listener(
        ack=ack,
        body=body,
        action=body["actions"][0],
        respond=Respond(response_url=body["response_url"]),
        client=bot.client,
        context=_context(bot),
    )
    assert ack.response is not None and ack.response.status == 200  # acked at once
    assert bot.answering.wait(10)  # then told, once Slack has the ack
    return "\n".join(response_texts(fs, "press"))


def _dispatch(bot: BotApp, body: str, content_type: str = signed.FORM) -> BoltResponse:
    """A request handed to the app in process, signed as Slack signs it."""
    headers = harness.slack_headers(body, content_type=content_type)
    # A context of its own, as the WSGI edge gives each request.
    return contextvars.Context().run(bot.bolt.dispatch, BoltRequest(body=body, headers=headers))


def _slash(fs: FakeSlack, text: str, name: str, user: str = ADMIN) -> str:
    return slack_payloads.slash_command(
        text,
        user=user,
        team=TEAM_ID,
        channel=CHANNEL,
        response_url=fs.response_url(name),
        trigger_id=f"trig.{name}",
    )


# -- each listener, alone ---------------------------------------------------------------


def test_simsid_command_answers_in_its_ack(bot: BotApp, fake_slack: FakeSlack) -> None:
    ack = Ack()
    command = {"command": "/simsid", "text": "nonsense", "user_id": ADMIN}
    simsid_command(
        ack=ack,
        command=command,
        respond=Respond(response_url=fake_slack.response_url("cmd")),
        context=_context(bot),
    )
    assert ack.response is not None
    body = json.loads(ack.response.body)
    assert body["response_type"] == "ephemeral"
    assert "I don't know the command `nonsense`" in json.dumps(body)


def test_installation_button_approves(bot: BotApp, fake_slack: FakeSlack) -> None:
    iid = install(bot.db, bot.lifecycle)
    value = encode_installation(iid, get(bot.db, iid).version)
    said = _press(bot, fake_slack, installation_button, ActionId.APPROVE, value)
    assert get(bot.db, iid).state is State.ENABLED
    assert "approved" in said.lower()  # a private listing's click is answered privately


def test_removal_button_refuses_a_value_it_never_carries(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    said = _press(bot, fake_slack, removal_button, ActionId.CONFIRM_REMOVAL, "not:a:value")
    assert "That button is not one of mine." in said


def test_page_button_replaces_the_listing_with_the_page(bot: BotApp, fake_slack: FakeSlack) -> None:
    install(bot.db, bot.lifecycle, site="s1", site_name="Oakfield Primary")
    said = _press(bot, fake_slack, page_button, ActionId.PAGE, encode_page("customers", ""))
    assert "Oakfield Primary" in said and '"replace_original": true' in said


def test_page_button_refuses_a_value_it_never_carries(bot: BotApp, fake_slack: FakeSlack) -> None:
    said = _press(bot, fake_slack, page_button, ActionId.PAGE, "secret:x")
    assert "That button is not one of mine." in said


@pytest.mark.parametrize(
    "listener",
    [
        installation_button,
        removal_button,
        page_button,
        disable_all_button,
        retry_upstream_button,
        extend_button,
        decide_list_button,
    ],
)
def test_button_listeners_name_the_arguments_bolt_passes(listener: Any) -> None:
    # Bolt passes a listener what its parameters name: a wrapper showing the work's own
    # parameters (ctx, ...) would be called with None for them.
    assert list(inspect.signature(listener).parameters) == [
        "ack",
        "body",
        "action",
        "respond",
        "client",
        "context",
    ]
    assert listener.__name__.endswith("_button") and listener.__doc__


def test_disable_all_button_says_an_unknown_customer_is_not_found(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    said = _press(bot, fake_slack, disable_all_button, ActionId.DISABLE_ALL, encode_site("nowhere"))
    assert "nowhere" in said and not fake_slack.opened_views()


def test_retry_button_decodes_its_value_as_an_outbox_id(bot: BotApp, fake_slack: FakeSlack) -> None:
    # "²" is a digit to str.isdigit, not to int(): the button's value is decoded by
    # ids.decode_outbox, and a value it refuses is nothing to retry, not an error.
    said = _press(bot, fake_slack, retry_upstream_button, ActionId.RETRY_UPSTREAM, "²")
    assert "That decision is not waiting for a retry." in said
    assert "error id" not in said


def test_reason_submitted_shows_a_missing_reason_on_the_field(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    iid = install(bot.db, bot.lifecycle)
    ask = ReasonAsk("remove", iid, get(bot.db, iid).version)
    view = {
        "id": "VFORM",
        "type": "modal",
        "callback_id": CallbackId.REASON.value,
        "private_metadata": encode_reason_ask(ask),
        "state": {"values": {}},
    }
    ack = Ack()
    body = {"type": "view_submission", "user": {"id": ADMIN}, "view": view}
    reason_submitted(ack=ack, body=body, view=view, client=bot.client, context=_context(bot))
    assert ack.response is not None
    answer = json.loads(ack.response.body)
    assert answer["response_action"] == "errors"
    assert "Say why it is removed" in json.dumps(answer["errors"])
    assert get(bot.db, iid).state is State.PENDING


def test_decide_list_button_opens_the_list_form(bot: BotApp, fake_slack: FakeSlack) -> None:
    install(bot.db, bot.lifecycle, app="app-hw", app_name="Homework Hub")
    value = encode_decide(DecideAsk("approve", "app-hw"))
    said = _press(bot, fake_slack, decide_list_button, ActionId.DECIDE_LIST, value)
    assert said == ""  # the form is the answer
    [form] = fake_slack.opened_views()
    assert form["callback_id"] == CallbackId.DECIDE_LIST.value
    assert "Homework Hub" in json.dumps(form)


def test_extend_button_on_an_installation_with_no_window_says_so(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    iid = install(bot.db, bot.lifecycle)
    value = encode_installation(iid, get(bot.db, iid).version)
    said = _press(bot, fake_slack, extend_button, ActionId.EXTEND, value)
    assert said and not fake_slack.opened_views()


def _decide_form(ask: DecideAsk, typed: dict[str, str]) -> dict[str, Any]:
    values = {
        block: {ActionId.DECIDE_IDS_INPUT.value: {"type": "plain_text_input", "value": text}}
        for block, text in typed.items()
    }
    return {
        "id": "VLIST",
        "type": "modal",
        "callback_id": CallbackId.DECIDE_LIST.value,
        "private_metadata": encode_decide(ask),
        "state": {"values": values},
    }


def _submit_form(bot: BotApp, listener: Any, view: dict[str, Any]) -> dict[str, Any]:
    ack = Ack()
    body = {"type": "view_submission", "user": {"id": ADMIN}, "view": view}
    listener(ack=ack, body=body, view=view, client=bot.client, context=_context(bot))
    assert ack.response is not None and ack.response.status == 200
    answer: dict[str, Any] = json.loads(ack.response.body)
    return answer


def test_a_list_submitted_is_previewed_and_the_preview_confirmed_applies_it(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    iid = install(bot.db, bot.lifecycle, app="app-hw", site="s1", urn="100001")
    ask = DecideAsk("approve", "app-hw")

    preview = _submit_form(bot, list_submitted, _decide_form(ask, {decide_ids_block(0): "100001"}))

    assert preview["response_action"] == "update"
    assert get(bot.db, iid).state is State.PENDING  # a preview changes nothing
    done = _submit_form(bot, preview_confirmed, preview["view"])
    assert done["response_action"] == "update"
    assert get(bot.db, iid).state is State.ENABLED


def test_a_list_form_that_is_not_ours_changes_nothing(bot: BotApp, fake_slack: FakeSlack) -> None:
    view = _decide_form(DecideAsk("approve", "app-hw"), {})
    view["private_metadata"] = "tampered"
    answer = _submit_form(bot, preview_confirmed, view)
    assert "That form is not one of mine." in json.dumps(answer)


def test_app_home_opened_publishes_the_home_tab(bot: BotApp, fake_slack: FakeSlack) -> None:
    event = {"type": "app_home_opened", "user": ADMIN, "tab": "home"}
    app_home_opened(body={"event": event}, event=event, context=_context(bot))
    assert bot.answering.wait(10)
    assert fake_slack.home(ADMIN) is not None


@pytest.mark.parametrize("listener", [tokens_revoked, app_uninstalled])
def test_a_revoked_token_pauses_deliveries(bot: BotApp, listener: Any) -> None:
    listener(context=_context(bot))
    with bot.db.read() as session:
        assert [r.error for r in refusals.active(session)] == [listener.__name__]


def test_the_error_handler_answers_a_form_in_the_form() -> None:
    handler = ErrorHandler(signing_secret=harness.SIGNING_SECRET)
    answer = handler.handle(
        error=DatabaseUnavailable("down"),
        body={"type": "view_submission"},
        request=BoltRequest(body="{}", headers={}),
        respond=None,
    )
    assert answer.status == 200
    assert isinstance(answer.body, str)
    shown = json.loads(answer.body)
    assert shown["response_action"] == "update"
    assert "Nothing changed" in json.dumps(shown["view"])


# -- the answer deadline, dispatched in process -----------------------------------------


def test_a_secret_answered_late_is_counted_until_it_is_sent(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    fake_slack.delay = SLOW_SLACK  # the answer's post to the response_url is slow
    answer = _dispatch(bot, _slash(fake_slack, "secret nothing nowhere", "secret"))
    assert answer.status == 200 and "Working on it" in str(answer.body)
    # A process stopping waits for it (Services.answering): once that wait is over,
    # the answer has been given.
    assert bot.answering.wait(10)
    assert response_texts(fake_slack, "secret")


def _form(bot: BotApp, fake_slack: FakeSlack, iid: int) -> dict[str, Any]:
    """A reason form, opened as Slack opens it, for Remove on installation `iid`."""
    ask = ReasonAsk("remove", iid, get(bot.db, iid).version)
    view = {
        "type": "modal",
        "callback_id": CallbackId.REASON.value,
        "private_metadata": encode_reason_ask(ask),
        "title": {"type": "plain_text", "text": "Remove"},
        "submit": {"type": "plain_text", "text": "Remove"},
        "blocks": [
            {
                "type": "input",
                "block_id": "simsid_reason",
                "label": {"type": "plain_text", "text": "Why"},
                "element": {"type": "plain_text_input", "action_id": "simsid_reason_text"},
            }
        ],
    }
    opened = bot.client.views_open(trigger_id="trig.form", view=view)
    return {**view, "id": opened["view"]["id"]}


def _late_check(bot: BotApp, fake_slack: FakeSlack) -> tuple[int, str, dict[str, Any]]:
    """A Remove form with no reason sent by a group admin while Slack is slow to say
    who is in the group: (installation, form id, the acknowledgement)."""
    iid = install(bot.db, bot.lifecycle)
    view = _form(bot, fake_slack, iid)
    fake_slack.delay = SLOW_SLACK  # the group lookup for OTHER_ADMIN is slow
    payload = slack_payloads.view_submission(
        view, {"simsid_reason": None}, user=OTHER_ADMIN, team=TEAM_ID, trigger_id="t"
    )
    answer = _dispatch(bot, slack_payloads.payload_form(payload))
    assert answer.status == 200
    return iid, view["id"], json.loads(str(answer.body))


def test_a_form_whose_admin_check_is_late_says_working_on_it(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    _, _, acked = _late_check(bot, fake_slack)
    assert acked["response_action"] == "update"
    assert acked["view"]["title"]["text"] == "Working on it"  # not "Not allowed"


def test_a_late_forms_outcome_says_what_the_field_would_have(
    bot: BotApp, fake_slack: FakeSlack
) -> None:
    iid, view_id, _ = _late_check(bot, fake_slack)
    assert bot.answering.wait(10)
    # The form said "working on it" and the field can no longer show its error: the
    # outcome in the form says it, in the words the field would have.
    [now] = [v for v in fake_slack.opened_views() if v["id"] == view_id]
    assert "Say why it is removed" in json.dumps(now["blocks"])
    assert get(bot.db, iid).state is State.PENDING


# -- each package's register(app) routes to its listeners, dispatched in process --------


def test_a_retry_click_is_routed_to_its_listener(bot: BotApp, fake_slack: FakeSlack) -> None:
    payload = _click(fake_slack, ActionId.RETRY_UPSTREAM, "²", "routed")
    answer = _dispatch(bot, slack_payloads.payload_form(payload))
    assert answer.status == 200 and answer.body == ""  # a button's ack says nothing
    assert bot.answering.wait(10)
    assert "not waiting for a retry" in "\n".join(response_texts(fake_slack, "routed"))


def test_app_home_opened_is_routed_to_its_listener(bot: BotApp, fake_slack: FakeSlack) -> None:
    body = slack_payloads.home_opened(user=ADMIN, team=TEAM_ID, event_id="Ev0HOME1")
    answer = _dispatch(bot, body, content_type="application/json")
    assert answer.status == 200
    assert bot.answering.wait(10)
    assert fake_slack.home(ADMIN) is not None


@pytest.mark.parametrize("event", ["tokens_revoked", "app_uninstalled"])
def test_a_revoked_token_event_is_routed_to_its_listener(bot: BotApp, event: str) -> None:
    body = json.dumps(
        {
            "token": "unused",
            "team_id": TEAM_ID,
            "api_app_id": "A0SIMSID",
            "type": "event_callback",
            "event_id": f"Ev0{event.upper()[:6]}",
            "event_time": 1,
            "event": {"type": event},
        }
    )
    assert _dispatch(bot, body, content_type="application/json").status == 200
    with bot.db.read() as session:
        assert [r.error for r in refusals.active(session)] == [event]
