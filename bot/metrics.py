"""Prometheus metrics: every definition, the small functions that record them, `/metrics`.

Counters and histograms live in each process. Under `serve --workers N` they are written to
files in PROMETHEUS_MULTIPROC_DIR (prepared by `serve`, see `prepare_multiprocess`) and a
scrape, whichever worker answers it, sums every worker's. What the database already knows
(outbox depth, installations by state, Slack's refusals, the last reconcile) is read at
scrape time by `DatabaseCollector` with a few cheap queries, once, not once per worker.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, cast
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from store.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# Slack's answer clock is 3 seconds: most buckets sit below it.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "simsid_http_requests", "HTTP requests answered, by route and status", ["route", "status"]
)
HTTP_SECONDS = Histogram(
    "simsid_http_request_duration_seconds",
    "Time to answer an HTTP request, by route",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
LISTENER_SECONDS = Histogram(
    "simsid_slack_listener_duration_seconds",
    "Time a Slack listener took to ack, by kind, and whether the answer deadline made it "
    "ack 'working on it' and answer in a follow-up",
    ["kind", "followup"],
    buckets=LATENCY_BUCKETS,
)
DELIVERIES = Counter(
    "simsid_deliveries",
    "Outbox deliveries, by kind and outcome (sent, retried, rate_limited, refused_lasting, held)",
    ["kind", "outcome"],
)
SLACK_API_ERRORS = Counter(
    "simsid_slack_api_errors",
    "Errors Slack's Web API answered, by method and error",
    ["method", "error"],
)
WEBHOOK_EVENTS = Counter(
    "simsid_webhook_events",
    "Install webhook requests by outcome (accepted, duplicate, stale, refused_signature, "
    "refused_shape, refused_size, unavailable, failed)",
    ["outcome"],
)
DECISIONS = Counter("simsid_decisions", "Decisions applied from Slack, by action", ["action"])
RECONCILE_RUNS = Counter(
    "simsid_reconcile_runs",
    "Scheduled reconciliations run by this process, by outcome",
    ["outcome"],
)
DIGESTS_SENT = Counter("simsid_digests_sent", "Pending-approval digests posted to Slack")

ROUTES = frozenset({"/slack/events", "/simsid/events", "/healthz", METRICS_PATH})


def route_of(path: str) -> str:
    """The route label: a known path, else "other" (a label per stray path would grow)."""
    return path if path in ROUTES else "other"


@contextlib.contextmanager
def http_request(path: str, start_response: StartResponse) -> Iterator[StartResponse]:
    """Time one request; yields the start_response to answer it with (it notes the status)."""
    started = time.perf_counter()
    status = ["500"]

    def noting(line: str, headers: Any, exc_info: Any = None) -> Any:
        status[0] = line.split(" ", 1)[0]
        return start_response(line, headers, exc_info)

    try:
        yield cast(StartResponse, noting)
    finally:
        route = route_of(path)
        HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(route, status[0]).inc()


def listener_kind(body: dict[str, Any]) -> str:
    """command, action, view, event or other, from a Slack request's body."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind in ("block_actions", "interactive_message", "block_suggestion"):
        return "action"
    if kind in ("view_submission", "view_closed"):
        return "view"
    if kind == "event_callback":
        return "event"
    return "other"


def listener_timed(kind: str, seconds: float, deadline: float) -> None:
    """A listener acked after `seconds`; at the deadline it acked "working on it"."""
    LISTENER_SECONDS.labels(kind, "true" if seconds >= deadline else "false").observe(seconds)


def delivery(kind: str, outcome: str) -> None:
    DELIVERIES.labels(str(kind), outcome).inc()


def slack_api_error(method: str, error: str | None) -> None:
    SLACK_API_ERRORS.labels(method, error or "unknown").inc()


def slack_method(method: Callable[..., object]) -> str:
    """Slack's name of a WebClient method: chat_postMessage -> chat.postMessage."""
    return str(getattr(method, "__name__", "unknown")).replace("_", ".", 1)


def webhook_event(outcome: str) -> None:
    WEBHOOK_EVENTS.labels(outcome).inc()


def decision(action: str) -> None:
    DECISIONS.labels(str(action)).inc()


def reconcile_run(outcome: str) -> None:
    RECONCILE_RUNS.labels(outcome).inc()


def digest_sent() -> None:
    DIGESTS_SENT.inc()


# -- what the database knows, read at scrape time --------------------------------------


def version() -> str:
    try:
        return metadata.version("simsid-bot")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(eq=False)  # a registry keys its collectors by identity
class DatabaseCollector(Collector):
    """Gauges from the database: a few grouped queries on small tables or indexes."""

    db: Database
    workers: int = 1

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from store import queries

        build = GaugeMetricFamily(
            "simsid_build_info",
            "Version, database kind and workers",
            labels=["version", "database", "workers"],
        )
        build.add_metric([version(), self.db.engine.dialect.name, str(self.workers)], 1)
        yield build
        up = GaugeMetricFamily("simsid_database_up", "1 when the database answered the scrape")
        try:
            with self.db.read() as session:
                gauges = queries.metric_gauges(session)
        except DatabaseUnavailable as exc:
            log.warning("metrics: database unavailable (%s)", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = datetime.now(UTC)
        depth = GaugeMetricFamily(
            "simsid_outbox_depth", "Undelivered outbox items", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "simsid_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox item",
            labels=["kind"],
        )
        for kind, count, first in gauges.outbox:
            depth.add_metric([kind], count)
            oldest.add_metric([kind], max(0.0, (now - first).total_seconds()) if first else 0.0)
        yield depth
        yield oldest
        installs = GaugeMetricFamily(
            "simsid_installations",
            "Installations by application and state (the kept counts)",
            labels=["application", "state"],
        )
        for app, state, count in gauges.installations:
            installs.add_metric([app, state], count)
        yield installs
        refused = GaugeMetricFamily(
            "simsid_slack_refusals",
            "Lasting refusals by Slack now in force, by what was refused (token, channel)",
            labels=["what"],
        )
        for what, count in gauges.refusals.items():
            refused.add_metric([what], count)
        yield refused
        yield from _last_reconcile(gauges.last_reconcile)


def _last_reconcile(last: dict[str, Any] | None) -> Iterator[GaugeMetricFamily]:
    when = GaugeMetricFamily(
        "simsid_reconcile_last_run_timestamp_seconds", "When the last reconciliation ran"
    )
    changed = GaugeMetricFamily(
        "simsid_reconcile_last_run_differences", "Changes the last reconciliation applied"
    )
    status = GaugeMetricFamily(
        "simsid_reconcile_last_run_info", "The last reconciliation's status", labels=["status"]
    )
    if last:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            when.add_metric([], datetime.fromisoformat(str(last["at"])).timestamp())
        counts = last.get("changed") or {}
        changed.add_metric(
            [], sum(int(v) for v in counts.values()) if isinstance(counts, dict) else 0
        )
        status.add_metric([str(last.get("status") or "unknown")], 1)
    yield when
    yield changed
    yield status


# -- the endpoint -------------------------------------------------------------------------


def allowed(environ: WSGIEnvironment, token: str | None) -> bool:
    """With a token, only `Authorization: Bearer <token>`; without one, loopback clients."""
    if token:
        given = str(environ.get("HTTP_AUTHORIZATION") or "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        address = ipaddress.ip_address(str(environ.get("REMOTE_ADDR") or ""))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def scrape(db_collector: DatabaseCollector) -> tuple[str, bytes]:
    """(content type, body): this process's metrics, or every worker's under `serve`."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    gauges = CollectorRegistry()
    gauges.register(db_collector)
    return CONTENT_TYPE_LATEST, body + generate_latest(gauges)


@dataclass
class Endpoint:
    """`/metrics`: on the main port behind the token (or loopback only, without one), or
    alone on --metrics-port."""

    collector: DatabaseCollector
    token: str | None = None
    port: int | None = None
    # A server of its own that answers nothing else (`worker --metrics-port`).
    alone: bool = False

    def answer(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes] | None:
        """The answer when the request is this endpoint's; None for the app's routes."""
        path = environ.get("PATH_INFO", "")
        if self.alone or (self.port is not None and _local_port(environ) == self.port):
            if path != METRICS_PATH:
                return _plain(start_response, "404 Not Found", b"not found\n")
            # The port is the operator's boundary; a token, when set, is asked here too.
        elif path != METRICS_PATH:
            return None
        elif self.port is not None:
            return _plain(start_response, "404 Not Found", b"served on the metrics port\n")
        elif not self.token and not allowed(environ, None):
            return _plain(start_response, "403 Forbidden", b"loopback clients only\n")
        if self.token and not allowed(environ, self.token):
            return _plain(start_response, "401 Unauthorized", b"bearer token required\n")
        content_type, body = scrape(self.collector)
        return _plain(start_response, "200 OK", body, content_type)


def _local_port(environ: WSGIEnvironment) -> int | None:
    """The port the request arrived on (gunicorn passes the socket; Host may say anything)."""
    sock = environ.get("gunicorn.socket")
    try:
        return int(sock.getsockname()[1]) if sock is not None else None
    except (OSError, IndexError, TypeError, ValueError):
        return None


def _plain(
    start_response: StartResponse, status: str, body: bytes, content_type: str = "text/plain"
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
