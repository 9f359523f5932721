"""SIGTERM while requests are in flight: they finish, then the process exits 0.

The platform sends SIGTERM on every deploy. Slow requests are made slow the way they are
in life: Slack answers the user group lookup slowly (FakeSlack.delay), so slash
commands from group admins are still working when the signal lands; one of them takes
longer than Slack's deadline and is answered through its response_url. Install events
stream in from several threads at the same time.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.sandbox.fake_slack import FakeSlack
from bot.web.prefork import SHUTDOWN_GRACE_SECONDS
from tests import faultkit, harness
from tests.conftest import TEST_KEY
from tests.faultkit import client_for, response_texts
from tests.harness import OTHER_ADMIN, Client, ServerProcess, event_body, http, install_and_wait

SLACK_DELAY = 1.2  # each usergroups.users.list call
SLOW_USERS = 6  # group admins whose command waits on one lookup
# In the last of four groups: three lookups nobody else causes, past the 2 s deadline.
LATE_USER = "ULATE"


def _group_lookups(fs: FakeSlack) -> int:
    with fs.lock:
        return sum(1 for method, _ in fs.calls if method == "usergroups.users.list")


def test_sigterm_finishes_in_flight_requests_and_exits_cleanly(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    db_path = tmp_path / "shutdown.db"
    log = tmp_path / "serve.log"
    fake_slack.usergroups = {
        "SADMINS": [OTHER_ADMIN],
        "SX1": ["UX1"],
        "SX2": ["UX2"],
        "SLATE": [LATE_USER],
    }
    env = harness.server_env(
        fake_slack.api_url,
        f"sqlite:///{db_path}",
        TEST_KEY,
        SIMSID_ADMINS="UADMIN1,SADMINS,SX1,SX2,SLATE",
    )
    # Two workers, so requests are in flight in both; with the scheduler, whose shutdown
    # is part of what is checked.
    server = ServerProcess(env, "--workers", "2", log_path=log)
    client = client_for(server.url, fake_slack)
    install_and_wait(client, fake_slack)
    client.slash("help")  # learns the team id (auth.test) before Slack turns slow
    fake_slack.delay = SLACK_DELAY

    stop_sending = threading.Event()
    webhook_answers: list[tuple[str, int]] = []
    lock = threading.Lock()

    def stream_events(k: int) -> None:
        sender = Client(server.url)
        n = 0
        while not stop_sending.is_set():
            n += 1
            event_id = f"evt_term_{k}_{n}"
            try:
                status = sender.send_event(
                    event_body(event_id=event_id, site_id=f"s-{k}-{n}", site_name=f"T{k}-{n}")
                ).status
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # no longer accepting: SIMS ID would send it again later
            with lock:
                webhook_answers.append((event_id, status))

    with ThreadPoolExecutor(max_workers=SLOW_USERS + 5) as pool:
        streams = [pool.submit(stream_events, k) for k in range(4)]
        slow = [
            pool.submit(client.slash, "pending", user=OTHER_ADMIN, response_name=f"slow{i}")
            for i in range(SLOW_USERS)
        ]
        late = pool.submit(client.slash, "customers", user=LATE_USER, response_name="late")
        # Every slow command is now waiting on Slack: each has asked for its group.
        assert fake_slack.wait_for(lambda: _group_lookups(fake_slack) > SLOW_USERS, 10)
        server.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # No new connections once the signal is in.
        def refused() -> bool:
            try:
                http("GET", f"{server.url}/healthz", timeout=2)
            except (urllib.error.URLError, ConnectionError, OSError):
                return True
            return False

        assert harness.wait_until(refused, 5)

        slow_answers = [f.result(timeout=30) for f in slow]
        for answer in slow_answers:
            assert answer.status == 200, answer
        answer = late.result(timeout=30)
        assert answer.status == 200
        assert "Working on it" in answer.body.decode()  # acked in time, answer follows
        stop_sending.set()
        for f in streams:
            f.result(timeout=30)

    code = server.proc.wait(SHUTDOWN_GRACE_SECONDS + 5)
    took = time.monotonic() - signalled
    server.terminate()  # reaps and closes the pipes
    assert code == 0
    assert took < SHUTDOWN_GRACE_SECONDS + 2, took

    # The late answer reached the user through its response_url before the exit, and so
    # did any slow one that a loaded machine pushed past the 2 s ack (answered in the body
    # otherwise): no in-flight command went unanswered.
    assert any("Oakfield Primary" in t for t in response_texts(fake_slack, "late"))
    for i, answer in enumerate(slow_answers):
        if "Working on it" in answer.body.decode():
            assert any("Oakfield Primary" in t for t in response_texts(fake_slack, f"slow{i}"))
        else:
            assert "Oakfield Primary" in answer.body.decode()
    # Every event that got an answer got a 2xx, and every 2xx is stored.
    assert webhook_answers, "events were streaming when the signal came"
    assert {status for _, status in webhook_answers} <= {200, 202}
    with sqlite3.connect(db_path) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM processed_event")}
    assert {event_id for event_id, _ in webhook_answers} <= stored

    logs = faultkit.read_log(log)
    assert "received SIGTERM" in logs and "stopped" in logs
    assert "Scheduler has been shut down" in logs  # APScheduler's own word for it
    assert "Traceback" not in logs, logs[-3000:]


# `simsid-bot ARGS`, with the reconcile job's first run moved from the cron's next minute
# to now; everything else (signals, scheduler, fetch) is the command's own.
RECONCILING_NOW = """
import sys
from datetime import datetime

from bot.background import scheduler

add = scheduler.Scheduler._add_reconcile_job


def at_once(self):
    add(self)
    self._scheduler.modify_job(scheduler.RECONCILE_JOB, next_run_time=datetime.now(self.tz))


scheduler.Scheduler._add_reconcile_job = at_once
from bot.cli.main import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_sigterm_stops_a_process_whose_list_is_served_a_byte_at_a_time(
    fake_slack: FakeSlack, tmp_path: Path, command: str
) -> None:
    """The scheduler's shutdown waited for the reconcile job, and the job for a fetch the
    server fed a byte at a time (each read's timeout never expired): `worker` ignored
    SIGTERM until the platform killed it, and `serve`'s worker until gunicorn did."""
    import subprocess
    import sys

    from store.db import Database
    from store.reconcile import last_run as reconcile
    from testing.list_server import ListServer

    token = "list-token-0123456789"
    db_url = f"sqlite:///{tmp_path / 'worker.db'}"
    script = tmp_path / "simsid_bot.py"
    script.write_text(RECONCILING_NOW)
    run = [sys.executable, str(script)]
    with ListServer(token, b"x" * 1000) as lists:
        lists.trickle = 5.0
        env = harness.server_env(
            fake_slack.api_url,
            db_url,
            TEST_KEY,
            SIMSID_RECONCILE_URL=lists.url,
            SIMSID_RECONCILE_TOKEN=token,
            SIMSID_RECONCILE_CRON="* * * * *",
        ) | {"PYTHONPATH": os.getcwd()}
        if command == "serve":
            server = ServerProcess(env, "--workers", "1", command=run)
            try:
                assert lists.answering.wait(60), "serve never fetched the list"
            finally:
                started = time.monotonic()
                code = server.terminate(timeout=30)
            err = ""
        else:
            worker = subprocess.Popen(
                [*run, "worker"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert lists.answering.wait(60), "the worker never fetched the list"
                worker.send_signal(signal.SIGTERM)
                started = time.monotonic()
                _out, err = worker.communicate(timeout=15)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.communicate()
            code = worker.returncode
        took = time.monotonic() - started
    assert code == 0, err
    assert took < SHUTDOWN_GRACE_SECONDS / 2, err
    db = Database(db_url)
    try:
        with db.read() as session:
            last = reconcile.last_run(session)
    finally:
        db.dispose()
    assert last is not None and last["status"] == "failed"
    assert "shutting down" in last["detail"]
