"""What a log line says it belongs to: the request, the Slack user, the installation.

The request id is set at the HTTP edge (bot/web/wsgi.py) and lives in context variables,
so listeners need not pass it on: `ContextExecutor` copies it into the work done after
an ack, the outbox records it with the items that work queues (store/request_id.py), and
delivery sets it again for each item it performs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Any, ParamSpec, TypeVar

from store.request_id import CURRENT as REQUEST_ID

HEADER = "X-Request-Id"
USER: ContextVar[str | None] = ContextVar("slack_user", default=None)
INSTALLATION: ContextVar[int | None] = ContextVar("installation_id", default=None)
# An incoming id is kept only when it is a plain token: it reaches every log line and
# the upstream's headers, so no spaces, quotes or control characters.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["HEADER", "INSTALLATION", "REQUEST_ID", "USER", "ContextExecutor", "request_id_from"]


def request_id_from(header: str | None) -> str:
    """The incoming X-Request-Id if it is a sane token (≤ 64 of [A-Za-z0-9._-]), else a new id."""
    if header is not None and _SANE.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current() -> dict[str, Any]:
    """The known fields: request_id, user, installation_id (absent when unknown)."""
    fields = {
        "request_id": REQUEST_ID.get(),
        "user": USER.get(),
        "installation_id": INSTALLATION.get(),
    }
    return {k: v for k, v in fields.items() if v is not None}


@contextmanager
def bound(*, request_id: str | None = None, installation_id: int | None = None) -> Iterator[None]:
    """Log (and queue) under this request and installation for the block's duration."""
    request_token = REQUEST_ID.set(request_id)
    installation_token = INSTALLATION.set(installation_id)
    try:
        yield
    finally:
        INSTALLATION.reset(installation_token)
        REQUEST_ID.reset(request_token)


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks (and their futures' callbacks) run in a copy of the
    submitter's context: the work a listener leaves for after its ack, and the late
    answer to it, log and queue under the same request."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = copy_context()
        future: Future[T] = super().submit(context.run, fn, *args, **kwargs)  # type: ignore[arg-type]
        add = future.add_done_callback

        # A callback answers late, on whichever thread finishes the work: in the context
        # the work ended with (a copy: the work may still be running in it).
        def add_in_context(callback: Callable[[Future[T]], object]) -> None:
            add(lambda done: context.copy().run(callback, done))

        future.add_done_callback = add_in_context  # type: ignore[method-assign,assignment]
        return future
