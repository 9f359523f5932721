"""`serve --workers N`: N worker processes under one master, all answering, on one SQLite file.

The master forks the workers; each builds its own app. /healthz names the worker that
answered (`worker_pid`), so a run of health checks shows who is serving.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.sandbox.fake_slack import FakeSlack
from bot.web.prefork import SHUTDOWN_GRACE_SECONDS
from tests import faultkit, harness
from tests.conftest import TEST_KEY
from tests.harness import Client, ServerProcess, event_body


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _answering_pids(server: ServerProcess, want: int, within: float = 60.0) -> set[int]:
    """Worker pids seen in /healthz answers, until `want` distinct ones (or `within` s).

    The master listens before every worker has built its app: on a loaded machine one
    worker can answer hundreds of checks while another is still booting, so this waits
    on a deadline, asking 8 at a time so that every accepting worker gets some.
    """
    seen: set[int] = set()
    client = Client(server.url)
    deadline = time.monotonic() + within
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(seen) < want and time.monotonic() < deadline:
            for answer in pool.map(lambda _: client.health(), range(8)):
                assert answer.status == 200, answer
                seen.add(answer.json()["worker_pid"])
    return seen


def test_two_workers_answer_and_stop_on_sigterm(fake_slack: FakeSlack, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'w.db'}", TEST_KEY)
    server = ServerProcess(env, "--workers", "2", log_path=log)
    try:
        pids = _answering_pids(server, 2)
        assert len(pids) == 2, pids
        assert server.proc.pid not in pids
        assert all(_parent(pid) == server.proc.pid for pid in pids)
    finally:
        assert server.terminate() == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the master"
    logs = faultkit.read_log(log)
    # The scheduler runs in one worker only; the digest and reminders are its jobs.
    assert len(re.findall(r"worker \d+ runs the scheduler", logs)) == 1, logs
    assert logs.count("Scheduler has been shut down") == 1
    # Each worker stopped its delivery loop and closed its engine.
    assert logs.count("bot.web.prefork: stopped") == 2
    assert "Traceback" not in logs, logs[-3000:]


def test_sigterm_while_workers_boot_stops_them_at_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The master says it listens before its workers have built their apps; a SIGTERM
    then (a deploy right after a deploy) must stop them, not wait for the grace to end
    and SIGKILL workers that never heard it."""
    log = tmp_path / "serve.log"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'w.db'}", TEST_KEY)
    server = ServerProcess(env, "--workers", "2", log_path=log)
    signalled = time.monotonic()
    assert server.terminate() == 0
    assert time.monotonic() - signalled < SHUTDOWN_GRACE_SECONDS
    logs = faultkit.read_log(log)
    assert "SIGKILL" not in logs, logs[-3000:]
    assert "Traceback" not in logs, logs[-3000:]


# `simsid-bot` whose workers are sent SIGTERM right after the fork, before gunicorn has
# installed their own handlers: the moment a master stopping while it forks reaches.
_SIGTERM_AT_FORK = """
import os, signal, sys
from bot.cli.main import main
from bot.web import prefork

post_fork = prefork.BotServer._post_fork

def post_fork_then_sigterm(self, arbiter, worker):
    post_fork(self, arbiter, worker)
    os.kill(os.getpid(), signal.SIGTERM)

prefork.BotServer._post_fork = post_fork_then_sigterm
sys.exit(main(sys.argv[1:]))
"""


def test_a_worker_told_to_stop_as_it_is_forked_stops(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """A SIGTERM that reaches a worker before its own handlers would have run the
    master's, copied into the child, and been lost: the worker served on until the
    master's grace ran out and SIGKILLed it."""
    log = tmp_path / "serve.log"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'w.db'}", TEST_KEY)
    command = [sys.executable, "-c", _SIGTERM_AT_FORK]
    server = ServerProcess(env, "--workers", "1", "--no-scheduler", log_path=log, command=command)
    try:
        # Each worker stops on the SIGTERM and the master forks another, which stops too.
        assert harness.wait_until(lambda: log.read_text().count("prefork: stopped") >= 2, 20), (
            log.read_text()[-3000:]
        )
    finally:
        assert server.terminate() == 0
    assert "Traceback" not in faultkit.read_log(log)


def test_web_concurrency_sets_the_default(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = harness.server_env(
        fake_slack.api_url, f"sqlite:///{tmp_path / 'w.db'}", TEST_KEY, WEB_CONCURRENCY="3"
    )
    server = ServerProcess(env, "--no-scheduler", log_path=tmp_path / "serve.log")
    try:
        assert len(_answering_pids(server, 3)) == 3
    finally:
        assert server.terminate() == 0


_RUNNER = re.compile(r"worker (\d+) runs the scheduler")


def _runners(log: Path) -> list[int]:
    """The workers that started the scheduler, in order, as the log says."""
    return [int(pid) for pid in _RUNNER.findall(log.read_text())]


def _two_workers_and_a_runner(fake_slack: FakeSlack, tmp_path: Path) -> tuple[ServerProcess, Path]:
    log = tmp_path / "serve.log"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{tmp_path / 'w.db'}", TEST_KEY)
    server = ServerProcess(env, "--workers", "2", log_path=log)
    if not harness.wait_until(lambda: len(_runners(log)) == 1, 20):
        server.terminate()  # the caller's try/finally has not begun yet
        pytest.fail(f"no worker started the scheduler: {log.read_text()[-2000:]}")
    return server, log


def test_a_new_worker_takes_over_the_scheduler_when_its_runner_dies(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    server, log = _two_workers_and_a_runner(fake_slack, tmp_path)
    try:
        first = _runners(log)[0]
        os.kill(first, signal.SIGKILL)
        assert harness.wait_until(lambda: len(_runners(log)) == 2, 30)
        second = _runners(log)[1]
        assert second != first
        assert _parent(second) == server.proc.pid
        # Only the replacement was named: the surviving worker did not start another.
        assert len(_answering_pids(server, 2)) == 2
    finally:
        assert server.terminate() == 0


def test_after_a_reload_one_new_worker_runs_the_scheduler(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """SIGHUP (gunicorn's reload) forks new workers while the old ones still run: one of
    the new ones must take the scheduler, or digests stop until a worker dies."""
    server, log = _two_workers_and_a_runner(fake_slack, tmp_path)
    try:
        first = _runners(log)[0]
        os.kill(server.proc.pid, signal.SIGHUP)
        assert harness.wait_until(lambda: len(_runners(log)) == 2, 30), log.read_text()[-2000:]
        second = _runners(log)[1]
        assert second != first and _parent(second) == server.proc.pid
        # The old workers are gone and the new ones answer.
        assert harness.wait_until(lambda: not Path(f"/proc/{first}").exists(), 30)
        assert first not in _answering_pids(server, 2)
    finally:
        assert server.terminate() == 0


def test_a_worker_forked_while_the_database_is_locked_boots_and_the_server_stays(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """gunicorn halts the whole server when a worker fails to boot, and it forks one
    whenever another dies: a replacement must not need the database to start."""
    db_path = tmp_path / "w.db"
    log = tmp_path / "serve.log"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{db_path}", TEST_KEY)
    server = ServerProcess(env, "--workers", "2", "--no-scheduler", log_path=log)
    try:
        first = _answering_pids(server, 2)
        victim = next(iter(first))
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # no writer gets in while the lock is held
        try:
            os.kill(victim, signal.SIGKILL)
            assert harness.wait_until(lambda: log.read_text().count("Booting worker") == 3, 20)
            # The replacement answers while the lock is still held: its boot wrote nothing
            # (a boot that wrote would still be waiting on the busy timeout, then fail).
            client = Client(server.url)
            assert harness.wait_until(
                lambda: client.health().json()["worker_pid"] not in first, 30, interval=0.05
            ), faultkit.read_log(log)[-3000:]
            assert server.proc.poll() is None, faultkit.read_log(log)[-3000:]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        pids = _answering_pids(server, 2)
        assert len(pids) == 2 and victim not in pids
    finally:
        assert server.terminate() == 0


@pytest.mark.slow
def test_workers_on_one_sqlite_file_lose_nothing_in_a_burst(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Several processes writing one SQLite file: WAL and the busy timeout keep every 2xx."""
    db_path = tmp_path / "burst.db"
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{db_path}", TEST_KEY)
    server = ServerProcess(env, "--workers", "3", "--no-scheduler", log_path=tmp_path / "s.log")
    events, senders = 600, 8
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def send(k: int) -> None:
        client = Client(server.url)
        for n in range(k, events, senders):
            body = event_body(event_id=f"evt_w_{n}", site_id=f"s-{n}", site_name=f"School {n}")
            status = client.send_event(body).status
            with lock:
                answers[status] += 1

    try:
        threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        # One event sent twice: whichever worker gets it knows it is a duplicate.
        again = Client(server.url).send_event(
            event_body(event_id="evt_w_7", site_id="s-7", site_name="School 7")
        )
        assert again.status == 200
    finally:
        assert server.terminate() == 0
    assert answers == Counter({202: events})
    with sqlite3.connect(db_path) as conn:
        stored = [row[0] for row in conn.execute("SELECT id FROM processed_event")]
        installs = conn.execute("SELECT count(*) FROM installation").fetchone()[0]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert sorted(stored) == sorted(f"evt_w_{n}" for n in range(events))
    assert installs == events
    assert journal == "wal"
    assert "Traceback" not in faultkit.read_log(tmp_path / "s.log")
