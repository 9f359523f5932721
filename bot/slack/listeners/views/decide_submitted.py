"""The list modal's two submissions: the list (answered with its preview in the form)
and the preview (applied as one batch, the outcome in the form).

Only admins get here (listeners/access.py); an answer later than Slack's 3 seconds
shows "working on it" in the form, replaced by the answer (listeners/deadline.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.slack import views
from bot.slack.ids import (
    ActionId,
    BlockId,
    DecideAsk,
    decide_ids_block,
    decode_decide,
)
from bot.slack.listeners.deadline import Deadline, late_form_view, working_form
from bot.slack.listeners.errors import reply_for
from bot.slack.listeners.surfaces import user_of
from bot.slack.payloads import Interaction, SurfaceView
from bot.slack.services import Services, services_of
from bot.slack.views.decide import LIST_FIELDS, applied_text, preview_modal
from bot.slack.views.modals import REASON_MAX
from store.decide import BadList
from store.lifecycle import Action


def _value(view: SurfaceView, block_id: str, action_id: str) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    return str((values.get(action_id) or {}).get("value") or "")


def _update(view: dict[str, Any]) -> dict[str, Any]:
    return {"response_action": "update", "view": view}


def _nothing(text: str) -> dict[str, Any]:
    return _update(views.outcome_modal("Nothing changed", text))


def preview_list(ctx: Services, ask: DecideAsk, user: str, view: SurfaceView) -> dict[str, Any]:
    """The list's preview in the form, or what is wrong with it on its field."""
    refusal = ctx.operations.app_refused(user, ask.app)
    if refusal is not None:
        return _nothing(refusal.text)
    text = "\n".join(
        _value(view, decide_ids_block(n), ActionId.DECIDE_IDS_INPUT) for n in range(LIST_FIELDS)
    )
    reason = " ".join(_value(view, BlockId.REASON, ActionId.REASON_INPUT).split()) or None
    if ask.kind == "disable" and (reason is None or len(reason) > REASON_MAX):
        said = f"Keep it under {REASON_MAX} characters." if reason else "Say why: it is audited."
        return {"response_action": "errors", "errors": {BlockId.REASON.value: said}}
    try:
        found = ctx.operations.list_preview(
            app_id=ask.app, action=Action(ask.kind), text=text, actor=user, reason=reason
        )
    except BadList as error:
        return {"response_action": "errors", "errors": {decide_ids_block(0): str(error)}}
    if found is None:
        return _nothing("That application is no longer registered.")
    result, preview_id = found
    return _update(preview_modal(DecideAsk(ask.kind, ask.app, preview_id), result))


def apply_preview(ctx: Services, ask: DecideAsk, user: str) -> dict[str, Any]:
    """Apply the stored preview; the outcome in the form."""
    refusal = ctx.operations.app_refused(user, ask.app)
    if refusal is not None:
        return _nothing(refusal.text)
    done = ctx.operations.list_apply(preview_id=ask.preview or "", actor=user)
    if done is None:
        return _nothing("That preview was sent already, or is not yours: open the list again.")
    return _update(views.outcome_modal("Done", applied_text(done)))


def _answer(
    ack: Ack, ctx: Services, client: WebClient, view: SurfaceView, work: Callable[[], Any]
) -> None:
    """`work`'s answer in the ack, or "working on it" and the answer by views.update."""
    deadline: Deadline[dict[str, Any]] = Deadline(ctx, work)
    answer = deadline.answer()
    if answer is not None:
        ack(**answer)
        return
    ack(**working_form())
    view_id = str(view.get("id") or "")

    def send(late: dict[str, Any]) -> None:
        client.views_update(view_id=view_id, view=late_form_view(late))

    deadline.follow_up(send, lambda error: send(_nothing(reply_for(error).text)))


def _ask(ack: Ack, view: SurfaceView) -> DecideAsk | None:
    try:
        return decode_decide(view.get("private_metadata"))
    except ValueError:
        ack(**_nothing("That form is not one of mine."))
        return None


def list_submitted(
    ack: Ack, body: Interaction, view: SurfaceView, client: WebClient, context: BoltContext
) -> None:
    """The list sent: answer with its preview."""
    ask = _ask(ack, view)
    if ask is not None:
        ctx, user = services_of(context), user_of(body)
        _answer(ack, ctx, client, view, lambda: preview_list(ctx, ask, user, view))


def preview_confirmed(
    ack: Ack, body: Interaction, view: SurfaceView, client: WebClient, context: BoltContext
) -> None:
    """The preview sent: apply exactly what it showed."""
    ask = _ask(ack, view)
    if ask is not None:
        ctx, user = services_of(context), user_of(body)
        _answer(ack, ctx, client, view, lambda: apply_preview(ctx, ask, user))
