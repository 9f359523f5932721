"""`/metrics`: Prometheus' text format, summed over `serve`'s workers, behind the token or
loopback rule; the alert rules and the dashboard name only metrics a scrape has."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlmodel import col

from bot.app import BotApp, create_app
from bot.metrics import DatabaseCollector
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from bot.web.prefork import prepare_metrics_dir
from store.db import Database
from store.lifecycle import EventType, InstallEvent, Lifecycle
from store.models import InstallationCount
from tests import faultkit, harness
from tests.conftest import IN_CI, TEST_KEY, make_settings
from tests.factories import BASE_TIME
from tests.harness import Client, ServerProcess, buttons, http, install_and_wait, wait_until
from tests.test_serve_workers import _answering_pids

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "simsid-bot.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _sum(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def _scrape(url: str, **headers: str) -> Samples:
    answer = http("GET", f"{url}/metrics", headers=headers)
    assert answer.status == 200, answer
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return _samples(answer.body.decode())


def test_two_workers_count_each_install_once(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Installs spread over two workers; every scrape, whichever worker answers, counts each
    once, and the installations gauge (the kept counts) agrees."""
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'm.db'}", TEST_KEY)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # what an operator sets: nothing
    server = ServerProcess(env, "--workers", "2", log_path=tmp_path / "serve.log")
    installs = 6
    try:
        assert len(_answering_pids(server, 2)) == 2
        client = Client(server.url)
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(
                pool.map(
                    lambda k: client.install(
                        event_id=f"evt_m{k}", app_id=f"app-{k % 3}", site_id=f"site-{k}"
                    ),
                    range(installs),
                )
            )
        assert [a.status for a in answers] == [202] * installs
        assert client.install(event_id="evt_m0").status == 200  # a duplicate
        assert client.send_event(harness.event_body(event_id="x"), secret="wrong").status == 401

        def delivered() -> bool:
            return client.health().json()["oldest_undelivered_message_seconds"] is None

        assert harness.wait_until(delivered, 30)
        with ThreadPoolExecutor(max_workers=8) as pool:
            scrapes = list(pool.map(lambda _: _scrape(server.url), range(16)))
    finally:
        assert server.terminate() == 0
    for samples in scrapes:
        assert _sum(samples, "simsid_webhook_events_total", outcome="accepted") == installs
        assert _sum(samples, "simsid_webhook_events_total", outcome="duplicate") == 1
        assert _sum(samples, "simsid_webhook_events_total", outcome="refused_signature") == 1
        routed = _sum(samples, "simsid_http_requests_total", route="/simsid/events", status="202")
        assert routed == installs
        count = _sum(samples, "simsid_http_request_duration_seconds_count", route="/simsid/events")
        assert count == installs + 2
        assert _sum(samples, "simsid_installations", state="pending") == installs
        assert _sum(samples, "simsid_outbox_depth", kind="message") == 0
        assert _sum(samples, "simsid_deliveries_total", kind="message", outcome="sent") >= 1
        assert _sum(samples, "simsid_build_info", workers="2", database="sqlite") == 1
        assert _sum(samples, "simsid_database_up") == 1
    assert "Traceback" not in faultkit.read_log(tmp_path / "serve.log")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_metrics_port_answers_metrics_alone(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'm.db'}", TEST_KEY)
    port = _free_port()
    server = ServerProcess(env, "--workers", "1", "--metrics-port", str(port))
    try:
        assert http("GET", f"{server.url}/metrics").status == 404
        assert http("GET", f"{server.url}/healthz").status == 200
        metrics_url = f"http://127.0.0.1:{port}"
        assert _sum(_scrape(metrics_url), "simsid_build_info", workers="1") == 1
        assert http("GET", f"{metrics_url}/healthz").status == 404
    finally:
        assert server.terminate() == 0


def test_worker_serves_metrics_on_its_port(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """The worker runs the scheduler: its digest and reconcile counters are scraped there."""
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'm.db'}", TEST_KEY)
    port = _free_port()
    worker = subprocess.Popen(
        [*harness.bot_command(), "worker", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert worker.stdout is not None
        assert b"worker running" in worker.stdout.readline()
        samples = _scrape(f"http://127.0.0.1:{port}")
        assert ("simsid_digests_sent_total", frozenset()) in samples
        assert _sum(samples, "simsid_database_up") == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
        if worker.stdout is not None:
            worker.stdout.close()


def test_serve_empties_the_operators_directory(tmp_path: Path, monkeypatch: Any) -> None:
    """An earlier run's files would add to this run's counts."""
    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_4242.db").write_bytes(b"old")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    prepare_metrics_dir()()
    assert given.is_dir() and not list(given.iterdir())
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    cleanup = prepare_metrics_dir()
    made = Path(os.environ.pop("PROMETHEUS_MULTIPROC_DIR"))
    assert made.is_dir()
    cleanup()
    assert not made.exists()


@pytest.fixture
def metrics_bot(fake_slack: FakeSlack, sqlite_url: str) -> Iterator[BotApp]:
    app = create_app(make_settings(fake_slack, sqlite_url, simsid_metrics_token="s3cret-scrape"))
    yield app
    app.db.dispose()


def _call(app: BotApp, **environ: Any) -> tuple[str, bytes]:
    seen: list[str] = []
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "wsgi.input": BytesIO()} | environ
    body = b"".join(app.wsgi(env, lambda status, headers, exc_info=None: seen.append(status)))
    return seen[0], body


def test_without_a_token_only_loopback_scrapes(bot: BotApp) -> None:
    with harness.serving(bot, deliver=False) as url:
        assert _scrape(url)  # the test client is on loopback
    assert _call(bot, REMOTE_ADDR="127.0.0.1")[0].startswith("200")
    assert _call(bot, REMOTE_ADDR="::ffff:127.0.0.1")[0].startswith("200")
    assert _call(bot, REMOTE_ADDR="10.1.2.3")[0].startswith("403")
    assert _call(bot, REMOTE_ADDR="")[0].startswith("403")


def test_with_a_token_every_client_needs_it(metrics_bot: BotApp) -> None:
    with harness.serving(metrics_bot, deliver=False) as url:
        assert http("GET", f"{url}/metrics").status == 401
        assert http("GET", f"{url}/metrics", headers={"Authorization": "Bearer no"}).status == 401
        assert _scrape(url, Authorization="Bearer s3cret-scrape")
    status, body = _call(
        metrics_bot, REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-scrape"
    )
    assert status.startswith("200") and b"simsid_build_info" in body
    status, body = _call(metrics_bot, REMOTE_ADDR="127.0.0.1")
    assert status.startswith("401") and b"s3cret" not in body


def test_traffic_is_counted_where_it_happens(
    bot: BotApp, served: Client, fake_slack: FakeSlack
) -> None:
    """An install, its message, an approval, a command and a Slack error each move their
    metric by exactly what happened (this process's counters: compared before and after)."""
    before = _scrape(served.base)
    message = install_and_wait(served, fake_slack)
    served.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert served.slash("help").status == 200
    fake_slack.fail_next(1, status=200, method="chat.postMessage", error="fatal_error")
    assert served.install(site_id="site-elm", site_name="Elm Primary").status == 202

    def moved(name: str, **labels: str) -> float:
        return _sum(_scrape(served.base), name, **labels) - _sum(before, name, **labels)

    assert wait_until(lambda: moved("simsid_deliveries_total", outcome="retried") == 1, 15)
    after = _scrape(served.base)

    def delta(name: str, **labels: str) -> float:
        return _sum(after, name, **labels) - _sum(before, name, **labels)

    assert delta("simsid_webhook_events_total", outcome="accepted") == 2
    assert delta("simsid_http_requests_total", route="/simsid/events", status="202") == 2
    assert delta("simsid_deliveries_total", kind="message", outcome="sent") >= 1
    assert delta("simsid_deliveries_total", kind="message", outcome="retried") == 1
    errors = delta("simsid_slack_api_errors_total", method="chat.postMessage", error="fatal_error")
    assert errors == 1
    assert delta("simsid_decisions_total", action="approve") == 1
    assert delta("simsid_slack_listener_duration_seconds_count", kind="command") == 1
    assert delta("simsid_slack_listener_duration_seconds_count", kind="action") >= 1
    assert _sum(after, "simsid_installations", state="enabled") == 1
    assert _sum(after, "simsid_installations", state="pending") == 1


def test_database_gauges_read_the_kept_counts(db: Database) -> None:
    """On SQLite and PostgreSQL: installations from the kept counts, the outbox by kind."""
    lifecycle = Lifecycle(default_channel="C1")
    with db.session() as session:
        for n, app in enumerate(["app-a", "app-a", "app-b"]):
            lifecycle.apply_event(
                session,
                InstallEvent(
                    id=f"evt-g{n}",
                    type=EventType.CREATED,
                    occurred_at=BASE_TIME,
                    application_id=app,
                    application_name=f"App {app}",
                    site_id=f"site-{n}",
                    site_name=f"School {n}",
                    site_urn=None,
                    site_dfe_number=None,
                ),
            )
        # The kept counts are what a scrape reads: a row it would count is not among them.
        session.execute(
            update(InstallationCount)
            .where(col(InstallationCount.application_id) == "app-b")
            .values(count=7)
        )
    families = {f.name: f for f in DatabaseCollector(db, workers=3).collect()}
    installs = {tuple(s.labels.values()): s.value for s in families["simsid_installations"].samples}
    assert installs[("app-a", "pending")] == 2 and installs[("app-b", "pending")] == 7
    depth = {s.labels["kind"]: s.value for s in families["simsid_outbox_depth"].samples}
    assert depth["message"] == 3
    ages = families["simsid_outbox_oldest_age_seconds"].samples
    assert all(s.value >= 0 for s in ages)
    assert families["simsid_database_up"].samples[0].value == 1
    build = families["simsid_build_info"].samples[0].labels
    assert build["database"] == db.engine.dialect.name and build["workers"] == "3"


# -- the alert rules and the dashboard ---------------------------------------------------

_NAME = re.compile(r"\bsimsid_[a-z0-9_]+\b")


def _scraped_names(bot: BotApp, served: Client) -> set[str]:
    """Every sample name a scrape shows once each kind of traffic has been seen."""
    served.install(event_id="evt_names")
    served.send_event(harness.event_body(event_id="y"), secret="wrong")
    served.slash("help")
    bot.delivery.drain()
    answer = http("GET", f"{served.base}/metrics")
    assert answer.status == 200
    names = set()
    for family in text_string_to_metric_families(answer.body.decode()):
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
        names |= {s.name for s in family.samples}
    return names


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_alerts_and_dashboard_name_only_scraped_metrics(bot: BotApp, served: Client) -> None:
    scraped = _scraped_names(bot, served)
    exprs = _alert_exprs() + _dashboard_exprs()
    assert len(_alert_exprs()) >= 8 and len(_dashboard_exprs()) >= 15
    named = {name for expr in exprs for name in _NAME.findall(expr)}
    assert named, exprs
    assert named <= scraped, sorted(named - scraped)
    # Every family the bot defines is on the dashboard.
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in scraped}
    shown = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in named}
    assert {f for f in families if f.startswith("simsid_")} <= shown


def test_alert_rules_pass_promtool_and_fire_when_they_should() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if IN_CI:
            pytest.fail("promtool is missing under CI: .ci/run installs Debian's prometheus")
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # The rules fire when they should, and not before (deploy/prometheus/alerts.test.yml).
    result = subprocess.run(
        [promtool, "test", "rules", ALERTS.with_name("alerts.test.yml").name],
        cwd=ALERTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
