"""Admins and approvers only: one middleware refuses everyone else before any listener runs.

Commands, button presses and form submissions from someone who is neither a SIMS ID admin
nor an approver of some application get a private refusal and reach no listener (which
application an approver may act on, each operation checks: Access.may_act); so does
one whose user is not a Slack user id (surfaces.acting_user: the one id both this check
and the listeners read). Kinds of
interaction the bot never draws (legacy attachments, dialogs, workflow steps, shortcuts:
Bolt would hand some of them to the same `app.action` listeners as a button) are acked
and refused, whoever sends them. Knowing whether someone is an admin can mean
asking Slack for a user group's members, which is sometimes slow, and Slack wants its
answer within 3 seconds: past the deadline (listeners/deadline.py) the request is
acknowledged with "working on it" and, once the answer is known, refused privately or
handed to the listeners again with the check passed, a command's answer going through
its response_url and a form's outcome into the form.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.context.respond import Respond
from slack_bolt.middleware import Middleware

from bot.slack import views
from bot.slack.listeners.deadline import Deadline, is_working, late_form_view, working_form
from bot.slack.listeners.errors import reply_for
from bot.slack.listeners.surfaces import acting_user, from_home, is_command
from bot.slack.services import Services
from bot.slack.views import Message

log = logging.getLogger(__name__)

# Set on a request handed back to the app once its sender is known to be an admin.
CHECKED = "simsid_admin_checked"
# What the refusal log line calls each kind of request (operators and tests grep it).
KINDS = {"command": "/simsid", "block_actions": "button", "view_submission": "form"}
# What else may reach the listeners: the Events API (app_home_opened), checked there.
EVENTS = "event_callback"
_NAME = re.compile(r"[a-z_ ]{1,40}")


def _kind(body: dict[str, Any]) -> str | None:
    if is_command(body):
        return "command"
    kind = body.get("type")
    view = body.get("view")
    if kind == "view_submission" and not (isinstance(view, dict) and view.get("type") == "modal"):
        return "view_submission not of a modal"  # the bot opens modals only (no workflow steps)
    return kind if isinstance(kind, str) else None


def _named(kind: str | None) -> str:
    """A payload type fit for the log (it is the sender's text)."""
    return kind if kind is not None and _NAME.fullmatch(kind) else "unknown"


def _private(message: Message) -> dict[str, Any]:
    return {**message.to_dict(), "response_type": "ephemeral"}


def _working(kind: str) -> BoltResponse:
    """The acknowledgement of a request whose check is late (listeners/deadline.py)."""
    if kind == "view_submission":
        return BoltResponse(status=200, body=working_form())
    return _ack(kind, views.working_on_it())


def _ack(kind: str, message: Message) -> BoltResponse:
    """The acknowledgement carrying `message` where Slack shows one: a command's reply,
    a form's replacement view; a button's acknowledgement is empty."""
    if kind == "command":
        return BoltResponse(status=200, body=_private(message))
    if kind == "view_submission":
        view = views.outcome_modal("Not allowed", message.text)
        return BoltResponse(status=200, body={"response_action": "update", "view": view})
    return BoltResponse(status=200, body="")


class AdminCheck(Middleware):
    """The middleware, as listeners.register puts it in front of every listener of an app.

    A Middleware of Bolt's own kind rather than a function: Bolt builds every argument a
    function might ask for, and some of those raise on payloads the bot refuses here (a
    workflow_step_edit without its step), which would answer 500 with a traceback.
    """

    def __init__(self, app: App, services: Services) -> None:
        self._app = app
        self._services = services
        self._access = services.access
        self._executor = services.executor
        self._home = services.home.publish

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        """Let admins and approvers through; refuse anyone else with a private message."""
        body = req.body
        kind = _kind(body)
        if req.context.get(CHECKED) or kind == EVENTS:
            next()
            return resp
        if kind not in KINDS:
            log.info("refused a %s interaction: the bot uses none", _named(kind))
            return BoltResponse(status=200, body="")
        user = acting_user(body)
        if user is None:
            log.info("refused %s from a user id that is not Slack's", KINDS[kind])
            return self._refuse(req, kind, None, acked=False)
        admin = self._access.known_entry(user)
        if admin is None:  # Slack must be asked, which may take longer than Slack waits
            check = Deadline(self._services, lambda: self._access.may_enter(user))
            admin = check.answer()
            if admin is None:
                check.follow_up(
                    lambda known: self._answer_late(req, kind, user, known),
                    lambda error: self._failed_late(req, error),
                )
                return _working(kind)
        if not admin:
            return self._refuse(req, kind, user, acked=False)
        next()
        return resp

    def _refuse(
        self, req: BoltRequest, kind: str, user: str | None, *, acked: bool
    ) -> BoltResponse:
        """Refuse privately where the person acted; `acked`: after "working on it"."""
        if user is not None:
            log.info("refused %s from non-admin %s", KINDS[kind], user)
        refusal = views.not_allowed()
        respond = req.context.respond
        if kind == "block_actions" and from_home(req.body):  # the Home tab has no response_url
            if user is None:  # no Home tab of theirs to say it on
                return _ack(kind, refusal)
            self._executor.submit(self._home, user, notice=refusal.text)
        elif respond is not None and acked:  # too late for the acknowledgement to say it
            _tell(respond, _private(refusal))
        elif respond is not None and kind == "block_actions":  # a button's ack says nothing
            self._executor.submit(_tell, respond, _private(refusal))
        elif kind == "view_submission" and acked:
            self._show_in_form(req, views.outcome_modal("Not allowed", refusal.text))
        return _ack(kind, refusal)

    def _show_in_form(self, req: BoltRequest, view: dict[str, Any]) -> None:
        """Replace a form already acked with "working on it" (views.update, by its id)."""
        view_id = str((req.body.get("view") or {}).get("id") or "")
        try:
            self._app.client.views_update(view_id=view_id, view=view)
        except Exception:  # raised in a worker thread, it would be lost: say so instead
            log.warning("could not update a form")

    def _failed_late(self, req: BoltRequest, error: Exception) -> None:
        """Outside Bolt's dispatch, @app.error cannot see what the check raised: tell it."""
        respond = req.context.respond
        if respond is not None:
            _tell(respond, _private(reply_for(error)))

    def _answer_late(self, req: BoltRequest, kind: str, user: str, admin: bool) -> None:
        """The slow case, once the answer is known: refuse, or let the listeners have it."""
        if not admin:
            self._refuse(req, kind, user, acked=True)
            return
        again = BoltRequest(
            body=req.raw_body if req.mode == "http" else req.body,
            query=req.query,
            headers=req.headers,
            context={CHECKED: True},
            mode=req.mode,
        )
        try:
            answer = self._app.dispatch(again)
        except Exception as error:  # outside Bolt's dispatch, where @app.error cannot see it
            self._failed_late(req, error)
            return
        # The listener's acknowledgement, which nobody waits for any more: a command's
        # answer goes through its response_url, a form's outcome into the form; one that
        # says "working on it" follows up by itself.
        reply = json.loads(answer.body) if answer.status == 200 and answer.body else {}
        if not isinstance(reply, dict) or is_working(reply):
            return
        respond = req.context.respond
        if kind == "command" and respond is not None and reply:
            _tell(respond, reply, replace=True)
        elif kind == "view_submission":
            self._show_in_form(req, late_form_view(reply))


def _tell(respond: Respond, reply: dict[str, Any], *, replace: bool = False) -> None:
    try:
        respond(**reply, replace_original=replace)
    except Exception:  # raised in a worker thread, it would be lost: say so instead
        log.warning("could not tell the user privately")
