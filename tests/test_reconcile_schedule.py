"""The scheduled reconciliation: fetched from a local server with a bearer token, applied
once per period however many schedulers race, the channel told through the Slack
stand-in, and a failing fetch shown in /healthz rather than raised."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import BotApp, create_app
from bot.background.scheduler import RECONCILE_JOB, Scheduler
from bot.config import Settings, SettingsError, load_settings
from bot.reconcile.snapshot import HEADER
from bot.sandbox.fake_slack import FakeSlack
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import OutboxKind, State
from testing.list_server import ListServer
from tests import factories, harness
from tests.conftest import TEST_KEY, make_settings
from tests.factories import act, get, install, installation_id, outbox_rows
from tests.harness import wait_until
from tests.test_jobs import Clock, run_together

_kept_open = pytest.fixture(autouse=True)(factories.kept_open)

TOKEN = "list-token-0123456789"
NOW = datetime(2026, 12, 1, 10, 20, tzinfo=UTC)  # the 10:15 period of "15 * * * *"
CHANNEL = harness.CHANNEL


def csv_body(*rows: tuple[str, str]) -> bytes:
    lines = [HEADER] + [f"app-hw,Homework Hub,{s},School {s},,,{e},," for s, e in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def server() -> Iterator[ListServer]:
    with ListServer(TOKEN) as running:
        yield running


def settings_for(fake: FakeSlack, db_url: str, server: ListServer, **extra: str) -> Settings:
    return make_settings(
        fake,
        db_url,
        simsid_reconcile_url=server.url,
        simsid_reconcile_token=TOKEN,
        **extra,
    )


def scheduler(db: Database, settings: Settings, now: datetime = NOW) -> Scheduler:
    return Scheduler(db, settings, on_work=lambda: None, clock=Clock(now))


def channel_posts(bot: BotApp, fake: FakeSlack, words: str) -> list[dict]:  # type: ignore[type-arg]
    """The channel's posts containing `words`, delivering until one is there (the delivery
    loop paces a channel at a post a second)."""

    def found() -> list[dict]:  # type: ignore[type-arg]
        return [m for m in fake.channel_messages(CHANNEL) if words in m["text"]]

    def delivered() -> bool:
        bot.delivery.drain()
        return bool(found())

    wait_until(delivered, 30, interval=0.2)
    return found()


def notices(db: Database) -> list[dict]:  # type: ignore[type-arg]
    return [r.payload or {} for r in outbox_rows(db, kind=OutboxKind.NOTICE)]


def test_a_scheduled_run_applies_and_tells_the_channel_once(
    db_url: str, fake_slack: FakeSlack, server: ListServer
) -> None:
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        enabled = install(bot.db, site="off")
        act(bot.db, enabled, Action.APPROVE)
        [install_post] = channel_posts(bot, fake_slack, "School off")
        server.body = csv_body(("off", "no"), ("new", "yes"))

        assert scheduler(bot.db, bot.settings).run_reconcile() == "applied"
        assert scheduler(bot.db, bot.settings, NOW + timedelta(minutes=30)).run_reconcile() == (
            "already"
        )
        posts = channel_posts(bot, fake_slack, "Reconciled with SIMS ID")

        assert server.requests == 1 and server.authorizations == [f"Bearer {TOKEN}"]
        assert get(bot.db, enabled).state is State.DISABLED
        assert get(bot.db, installation_id(bot.db, site="new")).state is State.ENABLED
        assert len(posts) == 1
        text = str(posts[0]["blocks"])
        assert "disabled in SIMS ID" in text and "School new" in text
        # The install message of the disabled installation is updated in place, by SIMS ID;
        # the new installation is not posted (no --notify), nothing goes upstream.
        assert fake_slack.wait_for(
            lambda: (
                "Disabled by SIMS ID" in str(fake_slack.find_message(CHANNEL, install_post["ts"]))
            )
        ), fake_slack.find_message(CHANNEL, install_post["ts"])
        assert not [m for m in fake_slack.channel_messages(CHANNEL) if "School new" in m["text"]]
        assert outbox_rows(bot.db, kind=OutboxKind.UPSTREAM) == []
        # The next period runs again, and finds nothing to do: no message.
        later = scheduler(bot.db, bot.settings, NOW + timedelta(hours=1))
        assert later.run_reconcile() == "in agreement"
        assert server.requests == 2 and len(notices(bot.db)) == 1
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_a_scheduled_run_refuses_too_many_removals_and_says_why(
    db_url: str, fake_slack: FakeSlack, server: ListServer
) -> None:
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        factories.install_many(bot.db, sites=[("app-hw", f"s{n}") for n in range(12)])
        server.body = csv_body(("s0", "no"))  # a truncated export

        assert scheduler(bot.db, bot.settings).run_reconcile() == "refused"
        [post] = channel_posts(bot, fake_slack, "refused")

        assert get(bot.db, installation_id(bot.db, site="s5")).state is State.PENDING
        assert "remove 11, disable 0 and approve 0" in str(post["blocks"])
        with harness.serving(bot) as url:
            health = harness.Client(url).health().json()
        assert health["last_reconcile"]["status"] == "refused"
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_a_scheduled_run_refuses_a_list_that_would_disable_many(
    db_url: str, fake_slack: FakeSlack, server: ListServer
) -> None:
    """A list marking every enabled installation `no` disabled them all on the hour, no
    admin involved: the scheduled run counted only removals against the limit."""
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        sites = [f"s{n}" for n in range(12)]
        server.body = csv_body(*((site, "yes") for site in sites))
        assert scheduler(bot.db, bot.settings).run_reconcile() == "applied"  # new: enabled
        # New installations are not counted, and the notice shows what was.
        new = [(f"new{n}", "no") for n in range(20)]
        server.body = csv_body(*((site, "no") for site in sites), *new)

        later = NOW + timedelta(hours=1)
        assert scheduler(bot.db, bot.settings, later).run_reconcile() == "refused"
        [post] = channel_posts(bot, fake_slack, "refused")

        assert "remove 0, disable 12 and approve 0" in str(post["blocks"])
        assert str(post["blocks"]).count("disabled in SIMS ID") == 12
        assert get(bot.db, installation_id(bot.db, site="s3")).state is State.ENABLED
        with harness.serving(bot) as url:
            last = harness.Client(url).health().json()["last_reconcile"]
        assert last["status"] == "refused"
        assert last["would_change"] == {"removed": 0, "disabled": 12, "approved": 0}
    finally:
        bot.delivery.stop()
        bot.db.dispose()


@pytest.mark.parametrize("problem", ["clash", "unusable"])
def test_a_scheduled_run_refused_by_the_data_tells_the_channel(
    db_url: str, fake_slack: FakeSlack, server: ListServer, problem: str
) -> None:
    """A list whose client key the bot holds for another school, or that cannot be read,
    is told to the channel, not raised out of the job: the period's claim is taken either
    way, so a refusal nobody hears of loses the period."""
    from sqlalchemy import select

    from store.models import Credential

    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        first, second = install(bot.db, site="s0"), install(bot.db, site="s1")
        act(bot.db, first, Action.APPROVE)
        act(bot.db, second, Action.APPROVE)
        with bot.db.read() as session:
            taken = session.scalar(
                select(Credential.client_key).where(Credential.installation_id == second)
            )
        if problem == "clash":
            lines = [HEADER, f"app-hw,Homework Hub,s0,School s0,,,yes,{taken},{'q' * 43}"]
            server.body = ("\n".join(lines) + "\n").encode()
        else:
            server.body = b",,,\n"
        assert scheduler(bot.db, bot.settings).run_reconcile() == "refused"
        [post] = channel_posts(bot, fake_slack, "refused")
        assert ("clashes" if problem == "clash" else "not usable") in str(post)
        assert str(taken) not in str(post) + str(notices(bot.db))  # no value of the list
        assert [get(bot.db, i).state for i in (first, second)] == [State.ENABLED] * 2
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_a_shifted_row_is_refused_by_its_count_and_no_value_leaves_the_process(
    db_url: str, fake_slack: FakeSlack, server: ListServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The URN and DfE columns left out, not left empty, shifted the client secret into
    `enabled`; the refusal quoted it in the channel, in the unauthenticated /healthz and in
    the log. Now the row is refused for its count, and no value of the list goes out."""
    leaked = "S3cr3tBirchw00dKEY-9"
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        server.body = (
            csv_body(("s0", "yes"))
            + (
                f"app-hw,Homework Hub,s1,School s1,yes,ck_{'k' * 24},{leaked}\n"
                f"app-hw,Homework Hub,s2,School s2,,,{leaked},,\n"
            ).encode()
        )
        assert scheduler(bot.db, bot.settings).run_reconcile() == "refused"
        [post] = channel_posts(bot, fake_slack, "refused")
        with harness.serving(bot) as url:
            health = harness.Client(url).health()
        detail = health.json()["last_reconcile"]["detail"]

        assert "line 3: 7 fields where the header has 9" in detail
        assert "line 4: enabled: must be yes/no" in detail
        for text in (str(post), health.body.decode(), caplog.text, str(notices(bot.db))):
            assert leaked[:8] not in text
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_a_failing_fetch_is_logged_and_shown_in_healthz_not_raised(
    db_url: str, fake_slack: FakeSlack, server: ListServer, caplog: pytest.LogCaptureFixture
) -> None:
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        server.status = 500
        assert scheduler(bot.db, bot.settings).run_reconcile() == "failed"
        assert "answered HTTP 500" in caplog.text
        assert TOKEN not in caplog.text
        with harness.serving(bot) as url:
            answer = harness.Client(url).health()
        assert answer.status == 200
        last = answer.json()["last_reconcile"]
        assert last["status"] == "failed" and "HTTP 500" in last["detail"]
        [notice] = notices(bot.db)
        assert "could not be fetched" in notice["reason"] and "HTTP 500" in notice["reason"]

        # The server comes back: the next period applies, and /healthz says so.
        server.status = 200
        server.body = csv_body(("s1", "no"))
        assert scheduler(bot.db, bot.settings, NOW + timedelta(hours=1)).run_reconcile() == (
            "applied"
        )
        with harness.serving(bot) as url:
            assert harness.Client(url).health().json()["last_reconcile"]["status"] == "applied"
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_the_scheduler_runs_the_job_only_when_a_url_is_set(
    sqlite_url: str, fake_slack: FakeSlack, server: ListServer
) -> None:
    db = Database(sqlite_url)
    try:
        with_url = scheduler(db, settings_for(fake_slack, sqlite_url, server)).start()
        without = scheduler(db, make_settings(fake_slack, sqlite_url)).start()
        try:
            assert RECONCILE_JOB in with_url.job_ids()
            assert RECONCILE_JOB not in without.job_ids()
            trigger = str(with_url._scheduler.get_job(RECONCILE_JOB).trigger)
            assert "minute='15'" in trigger
        finally:
            with_url.shutdown()
            without.shutdown()
        assert without.run_reconcile() == "not configured"
    finally:
        db.dispose()


def test_three_schedulers_racing_one_period_fetch_and_apply_once(
    db_url: str, fake_slack: FakeSlack, server: ListServer
) -> None:
    config = settings_for(fake_slack, db_url, server)
    dbs = [Database(db_url) for _ in range(3)]
    try:
        install(dbs[0], site="gone")
        server.body = csv_body(("s1", "yes"))
        outcomes = run_together(
            [
                scheduler(d, config, NOW + timedelta(seconds=n)).run_reconcile
                for n, d in enumerate(dbs)
            ]
        )
        assert sorted(outcomes) == ["already", "already", "applied"]
        assert server.requests == 1
        assert len(notices(dbs[0])) == 1
        assert get(dbs[0], installation_id(dbs[0], site="gone")).state is State.REMOVED
    finally:
        for d in dbs:
            d.dispose()


RACER = """
import sys
import time
import time
from datetime import datetime
from bot.reconcile.scheduled import run_scheduled
from bot.config import load_settings
from bot.runtime import open_database
settings = load_settings()
db = open_database(settings)
print(run_scheduled(db, settings, now=datetime.fromisoformat(sys.argv[1]), by=sys.argv[2]))
"""


def test_two_processes_racing_one_period_apply_once(
    db_url: str, fake_slack: FakeSlack, server: ListServer, tmp_path: Path
) -> None:
    db = Database(db_url)
    try:
        install(db, site="gone", lifecycle=Lifecycle())
        server.body = csv_body(("s1", "yes"))
        env = harness.server_env(
            fake_slack.api_url,
            db_url,
            TEST_KEY,
            SIMSID_RECONCILE_URL=server.url,
            SIMSID_RECONCILE_TOKEN=TOKEN,
        )
        script = tmp_path / "racer.py"
        script.write_text(RACER)
        racers = [
            subprocess.Popen(
                [sys.executable, str(script), NOW.isoformat(), f"racer-{n}"],
                env=env | {"PYTHONPATH": os.getcwd()},
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(2)
        ]
        results = [r.communicate(timeout=120) for r in racers]
        # A racer that crashed printed nothing: show its stderr rather than an IndexError.
        outcomes = sorted((out.strip().splitlines() or [err])[-1] for out, err in results)
        assert outcomes == ["already", "applied"], results
        assert server.requests == 1
        assert len(notices(db)) == 1
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"simsid_reconcile_url": "ftp://lists.example.org/x.csv"}, "SIMSID_RECONCILE_URL"),
        ({"simsid_reconcile_url": "http://lists.example.org/x.csv"}, "SIMSID_RECONCILE_URL"),
        ({"simsid_reconcile_cron": "hourly"}, "SIMSID_RECONCILE_CRON"),
    ],
)
def test_bad_reconcile_settings_are_named(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, **overrides)
    assert named in raised.value.problems


def test_good_reconcile_settings() -> None:
    settings = load_settings(
        _env_file=None,
        simsid_reconcile_url="https://lists.example.org/sims-id.csv",
        simsid_reconcile_token=TOKEN,
    )
    assert settings.simsid_reconcile_cron == "15 * * * *"
    assert TOKEN not in repr(settings)


def test_simsid_secret_says_the_credentials_came_from_sims_ids_report(
    bot: BotApp, served: harness.Client, fake_slack: FakeSlack
) -> None:
    from bot.reconcile.run import reconcile
    from store.reconcile.types import Listed

    key, secret = "ck_" + "R" * 24, "r" * 43
    row = Listed("app-hw", "Homework Hub", "s1", "Oakfield", True, None, None, key, secret)
    reconcile(bot.db, Lifecycle(), [row], apply=True)

    reply = served.private_reply(fake_slack, "secret app-hw s1")

    assert key in reply and secret in reply
    assert "SIMS ID's report" in reply


def test_a_broken_answer_is_recorded_and_told_not_raised(
    db_url: str, fake_slack: FakeSlack, server: ListServer
) -> None:
    """A status line that is not HTTP is a failed run, recorded and told: raised out of
    the job, it would take the period's claim with nothing recorded and no one told."""
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        server.raw = b"HTTP/1.1 two hundred OK\r\n\r\n"
        assert scheduler(bot.db, bot.settings).run_reconcile() == "failed"
        with harness.serving(bot) as url:
            last = harness.Client(url).health().json()["last_reconcile"]
        assert last["status"] == "failed" and "status line" in last["detail"]
        assert "two hundred" not in last["detail"]  # the server's words stay out
        [post] = channel_posts(bot, fake_slack, "refused")
        assert "could not be fetched" in str(post) and "status line" in str(post)
    finally:
        bot.delivery.stop()
        bot.db.dispose()


@pytest.mark.parametrize("slow", ["body", "headers"])
def test_a_list_served_a_byte_at_a_time_is_given_up_at_the_total_limit(
    db_url: str,
    fake_slack: FakeSlack,
    server: ListServer,
    monkeypatch: pytest.MonkeyPatch,
    slow: str,
) -> None:
    """One time limit covers the whole fetch, not each read: a list served a byte at a time
    (every 29 s, say, under a 30 s read timeout) would be read for ever and later periods
    skipped. Here a byte every 50 ms, for 100 s."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.reconcile import snapshot

    monkeypatch.setattr(snapshot, "TOTAL_SECONDS", 1.0)
    body = csv_body(*((f"s{n}", "yes") for n in range(60)))[:2000]
    if slow == "headers":
        server.raw = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 2000 + b"\r\n\r\n"
    else:
        server.body = body
    server.trickle = 0.05
    bot = create_app(settings_for(fake_slack, db_url, server))
    try:
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            outcome = pool.submit(scheduler(bot.db, bot.settings).run_reconcile)
            try:
                assert outcome.result(timeout=20) == "failed"
            finally:
                server.trickle = None
                server._closing.set()  # let a run that overstayed end with the test
        assert time.monotonic() - started < 10
        with harness.serving(bot) as url:
            last = harness.Client(url).health().json()["last_reconcile"]
        assert last["status"] == "failed" and "took over 1 s" in last["detail"]
        [post] = channel_posts(bot, fake_slack, "refused")
        assert "took over 1 s" in str(post)
    finally:
        bot.delivery.stop()
        bot.db.dispose()


def test_the_notice_the_outbox_holds_reads_back_as_the_notice_queued() -> None:
    """The channel's notice is typed: what a run queues is what the view is given, applied
    or refused, through the outbox's JSON."""
    import json

    from bot.reconcile.notice import Example, Notice

    example = Example("gone", "Reading Plus", "Hill School", "s1")
    applied = Notice("list.csv", changed={"gone": 2, "new": 1}, total=40, skipped=1,
                     examples=(example,))  # fmt: skip
    refused = Notice("list.csv", refused="the list would remove 25", total=25, examples=(example,))
    for notice in (applied, refused):
        assert Notice.from_payload(json.loads(json.dumps(notice.to_payload()))) == notice
    # Rows queued before the notice was typed carry the same keys.
    assert refused.to_payload()["notice"] == "reconcile_refused"
    assert applied.to_payload()["notice"] == "reconciled"
