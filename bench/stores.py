"""Stores to measure: fresh SQLite files and PostgreSQL schemas, seeded by `simsid-bot ingest`."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.harness import bot_command

REPO = Path(__file__).resolve().parent.parent
PG_PORT = "55433"
PG_DATA = "/tmp/simsid-bench-pg"


@dataclass(frozen=True)
class Backend:
    name: str  # "SQLite" or "PostgreSQL"
    base_url: str | None  # PostgreSQL: the database the bench may wipe

    @property
    def is_sqlite(self) -> bool:
        return self.base_url is None


def fresh_store(backend: Backend, workdir: Path, name: str) -> str:
    """A URL for an empty store (SQLite: a new file; PostgreSQL: a wiped public schema)."""
    if backend.is_sqlite:
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    assert backend.base_url is not None
    engine = create_engine(backend.base_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # Other sessions (a killed server's pool) must not hold locks on the old tables.
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return backend.base_url


@dataclass(frozen=True)
class Ran:
    """A finished `simsid-bot` subprocess."""

    seconds: float  # wall time
    cpu_seconds: float  # its user + system time: unlike the wall time it hardly moves
    # when other work shares the machine
    stdout: str


def run_cli(env: dict[str, str], *args: str, log: Path, expect: int = 0) -> Ran:
    """Run `simsid-bot ARGS` as a subprocess. Raises unless it exits `expect`."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("ab") as err:
        done = subprocess.run(
            [*bot_command(), *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            check=False,
        )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout = done.stdout.decode()
    if done.returncode != expect:
        raise RuntimeError(
            f"simsid-bot {' '.join(args)} exited {done.returncode}, not {expect}: "
            f"{stdout[-500:]} (log: {log})"
        )
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    return Ran(elapsed, cpu, stdout)


def postgres_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


class LocalPostgres:
    """A throwaway cluster from scripts/start-test-postgres, on the bench's own port and dir."""

    def __init__(self) -> None:
        self.env = {**os.environ, "PGPORT_TEST": PG_PORT, "PGDATA_TEST": PG_DATA}
        self.started = False

    def start(self) -> str:
        done = subprocess.run(
            [str(REPO / "scripts" / "start-test-postgres")],
            env=self.env,
            capture_output=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"start-test-postgres exited {done.returncode}: {done.stderr.decode()[-300:]}"
            )
        self.started = True
        return done.stdout.decode().strip().splitlines()[-1]

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [str(REPO / "scripts" / "stop-test-postgres")],
                env=self.env,
                timeout=120,
                check=False,
            )
            self.started = False
