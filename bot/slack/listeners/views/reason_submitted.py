"""The reason modal's submission: Disable, Remove (or ask to) and "disable all", with why.

The answer to view_submission decides what the person sees: the form closes when the
change was made; when it could not be (someone else acted since the form opened, or the
submitter is not an admin) the form is replaced by what happened instead
(response_action "update"); a missing or overlong reason is shown on the field
(response_action "errors"). An answer later than the deadline shows "working on it" in
the form, replaced by the outcome (listeners/deadline.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack import views
from bot.slack.ids import ActionId, BlockId, ReasonAsk, decode_reason_ask
from bot.slack.listeners.deadline import Deadline, late_form_view, working_form
from bot.slack.listeners.errors import after_ack, reply_for
from bot.slack.listeners.surfaces import user_of
from bot.slack.payloads import Interaction, SurfaceView
from bot.slack.services import Services, services_of
from bot.slack.views import Message
from bot.slack.views.modals import REASON_MAX
from store.lifecycle import Action

log = logging.getLogger(__name__)


def reason_of(view: SurfaceView) -> str:
    """The reason typed into the modal, stripped; "" when none."""
    values = ((view.get("state") or {}).get("values") or {}).get(BlockId.REASON.value) or {}
    value = (values.get(ActionId.REASON_INPUT.value) or {}).get("value")
    return " ".join(str(value).split()) if value else ""


def until_of(view: SurfaceView) -> datetime | None:
    """The maintenance window's end picked in the modal; None when none was."""
    values = ((view.get("state") or {}).get("values") or {}).get(BlockId.UNTIL.value) or {}
    picked = (values.get(ActionId.UNTIL_INPUT.value) or {}).get("selected_date_time")
    if type(picked) is not int:
        return None
    return datetime.fromtimestamp(picked, UTC)


def _tell_later(ctx: Services, ask: ReasonAsk, user: str, reply: Message) -> None:
    """After the form closed: the outcome where the click was (listing or Home tab)."""
    if ask.home:
        ctx.home.publish(user, notice=reply.text)
    if ask.response_url:
        try:
            WebhookClient(ask.response_url).send(
                **reply.to_dict(), response_type="ephemeral", replace_original=False
            )
        except Exception as exc:  # the change is made; only the note about it is lost
            log.warning("could not post to a response_url: %s", type(exc).__name__)


@dataclass(frozen=True)
class SubmissionAck:
    """How to answer a submission: `ack` arguments, and what to tell afterwards (if any)."""

    ack: dict[str, Any]
    reply: Message | None = None


def _update(title: str, text: str) -> dict[str, Any]:
    return {"response_action": "update", "view": views.outcome_modal(title, text)}


def _field_error(text: str, block: BlockId = BlockId.REASON) -> SubmissionAck:
    return SubmissionAck({"response_action": "errors", "errors": {block.value: text}})


def decide(
    ctx: Services, ask: ReasonAsk, user: str, reason: str, until: datetime | None = None
) -> SubmissionAck:
    """Check what the form says, then make the change (only admins get here: access.py;
    what goes wrong is answered by the one error handler: errors.py)."""
    if len(reason) > REASON_MAX:
        return _field_error(f"Keep it under {REASON_MAX} characters.")
    if until is not None and until <= ctx.operations.lifecycle.clock():
        return _field_error("Pick a time in the future.", BlockId.UNTIL)
    if ask.kind == "extend":
        assert ask.installation_id is not None and ask.version is not None
        if until is None:
            return _field_error("Pick when to enable it again.", BlockId.UNTIL)
        moved, reply = ctx.operations.extend(
            installation_id=ask.installation_id, version=ask.version, until=until, actor=user
        )
        return SubmissionAck({} if moved else _update("Nothing changed", reply.text), reply)
    if ask.kind == "remove" and not reason:
        return _field_error("Say why it is removed: it goes in the audit log.")
    if ask.kind == "disable_all":
        assert ask.site_id is not None
        reply = ctx.operations.disable_all(
            site_id=ask.site_id,
            enabled=ask.enabled,
            actor=user,
            reason=reason or None,
            until=until,
        )
        return SubmissionAck({}, reply)
    assert ask.installation_id is not None
    applied, reply = ctx.operations.act(
        installation_id=ask.installation_id,
        version=ask.version,
        action=Action(ask.kind),
        actor=user,
        reason=reason or None,
        until=until,
    )
    if applied:
        return SubmissionAck({}, reply)
    return SubmissionAck(_update("Nothing changed", reply.text), reply)


def reason_submitted(
    ack: Ack, body: Interaction, view: SurfaceView, client: WebClient, context: BoltContext
) -> None:
    """The reason modal sent: make the change, then close the form or say why not in it."""
    ctx = services_of(context)
    user = user_of(body)
    try:
        ask = decode_reason_ask(view.get("private_metadata"))
    except ValueError:
        ack(**_update("Nothing changed", "That form is not one of mine."))
        return
    reason, until = reason_of(view), until_of(view)
    deadline = Deadline(ctx, lambda: decide(ctx, ask, user, reason, until))
    answer = deadline.answer()
    if answer is None:
        ack(**working_form())
        view_id = str(view.get("id") or "")

        def send(late: SubmissionAck) -> None:
            _answer_late(ctx, client, view_id, ask, user, late)

        deadline.follow_up(
            send,
            lambda error: send(SubmissionAck(_update("Nothing changed", reply_for(error).text))),
        )
        return
    ack(**answer.ack)
    reply = answer.reply
    if reply is not None:
        after_ack(ctx, body, None, lambda: _tell_later(ctx, ask, user, reply))


def _answer_late(
    ctx: Services, client: WebClient, view_id: str, ask: ReasonAsk, user: str, answer: SubmissionAck
) -> None:
    """The outcome in the form that says "working on it", and where the click was."""
    done = answer.reply.text if answer.reply else None
    client.views_update(view_id=view_id, view=late_form_view(answer.ack, done))
    if answer.reply is not None:
        _tell_later(ctx, ask, user, answer.reply)
