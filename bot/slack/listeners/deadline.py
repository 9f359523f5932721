"""Answer within the deadline, else say "working on it" and follow up: the one way every
listener (and the admin check) answers work that may outlast Slack's 3 seconds.

Slack shows `operation_timeout` when a request is not acknowledged within 3 seconds, so
work that may take longer (Slack slow to list a user group, a database lock) runs on the
services' executor while the request waits for it up to `Services.answer_deadline`. On
time, the answer goes in the acknowledgement; late, the acknowledgement says "working on
it" and the answer follows once there is one: a command's through its response_url, a
form's into the form (views.update). `Services.answering` counts a late answer, so a
process that is stopping lets it be given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Generic, TypeVar

from bot.slack import views
from bot.slack.services import Services

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKING_TITLE = "Working on it"


def working_form() -> dict[str, Any]:
    """The acknowledgement of a form whose answer is late: "working on it" in the form."""
    view = views.outcome_modal(WORKING_TITLE, views.working_on_it().text)
    return {"response_action": "update", "view": view}


def is_working(ack: Mapping[str, Any]) -> bool:
    """Whether an acknowledgement only says "working on it" (its answer follows by itself)."""
    if ack.get("text") == views.working_on_it().text:
        return True
    return ack == working_form()


def late_form_view(ack: Mapping[str, Any], done: str | None = None) -> dict[str, Any]:
    """What replaces "working on it" in a form once its answer is known: the view the
    answer would have shown; else the field's error (the form has closed, so the field
    cannot show it); else the change made (`done`, what it did)."""
    shown = ack.get("view")
    if isinstance(shown, dict):
        return shown
    if ack.get("response_action") == "errors":
        errors = ack.get("errors") or {}
        said = " ".join(str(e) for e in errors.values()) if isinstance(errors, dict) else ""
        return views.outcome_modal("Nothing changed", said or "Check the form and try again.")
    return views.outcome_modal("Done", done or "Done.")


class Deadline(Generic[T]):
    """`work` started on the services' executor: `answer()` is its result if it comes
    within the deadline (what it raises is raised, for Bolt's error handler), else None;
    then, once "working on it" is acked, `follow_up` sends the result when there is one."""

    def __init__(self, services: Services, work: Callable[[], T]) -> None:
        self._services = services
        self._future: Future[T] = services.executor.submit(work)

    def answer(self, *, wait: bool = True) -> T | None:
        """The result, if it comes within the deadline; None (late) without `wait`."""
        if not wait:
            return None
        try:
            return self._future.result(timeout=self._services.answer_deadline)
        except FutureTimeout:
            return None

    def follow_up(self, send: Callable[[T], None], failed: Callable[[Exception], None]) -> None:
        """Once there is a result, `send` it; `failed` answers what the work raised
        (raised outside Bolt, it would never reach the error handler). Call it after the
        "working on it" acknowledgement, which the answer must come after."""
        answering = self._services.answering
        answering.begin()

        def settled(done: Future[T]) -> None:
            try:
                error = done.exception()
                if error is None:
                    send(done.result())
                elif isinstance(error, Exception):
                    failed(error)
            except Exception as exc:  # a done callback's exception is only printed
                log.warning("could not send a late answer: %s", type(exc).__name__)
            finally:
                answering.end()

        self._future.add_done_callback(settled)
