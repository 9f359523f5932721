"""PostgreSQL for fault tests: a fresh database on the shared cluster, or a private cluster.

The shared test cluster (TEST_POSTGRES_URL) is used by other people's tests at the same
time, so nothing here truncates, stops or restarts it: tests that need a clean database
get one of their own (CREATE DATABASE), and tests that stop PostgreSQL start a private
cluster on another port (scripts/start-test-postgres with PGPORT_TEST / PGDATA_TEST).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from store import migrate
from store.db import Database
from tests.conftest import IN_CI, require_postgres

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def _admin_dsn(url: str) -> str:
    """The libpq DSN of the cluster's `postgres` database, for CREATE / DROP DATABASE."""
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False)


@contextmanager
def fresh_database(prefix: str, *, url: str | None = None, migrated: bool = True) -> Iterator[str]:
    """CREATE DATABASE `<prefix>_<random>` on the cluster of `url` (default: the shared
    TEST_POSTGRES_URL), migrate it, yield its SQLAlchemy URL, and drop it afterwards."""
    import psycopg

    base = url or require_postgres()
    admin_dsn = _admin_dsn(base)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        if migrated:
            db = Database(db_url)
            migrate.upgrade(db)
            db.dispose()
        yield db_url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    usable = [p for p in found if os.access(p / "pg_ctl", os.X_OK)]

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in bindir.parent.name.split(".") if x.isdigit())

    return max(usable, key=version, default=None)


@dataclass
class PrivateCluster:
    """A throwaway PostgreSQL cluster this test module may stop and start at will."""

    port: int
    data_dir: Path
    bindir: Path
    url: str

    def _as_postgres(self, *args: str) -> list[str]:
        # initdb and the server refuse to run as root; the start script uses runuser too.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PGPORT_TEST": str(self.port), "PGDATA_TEST": str(self.data_dir)}

    def stop(self) -> None:
        """Stop the server (fast: open connections are cut, as in a real outage)."""
        subprocess.run(
            self._as_postgres(
                str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start it again with the options start-test-postgres used."""
        options = (
            f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off"
        )
        subprocess.run(
            self._as_postgres(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "server.log"),
                "-w",
                "-o",
                options,
                "start",
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def destroy(self) -> None:
        subprocess.run(
            [str(SCRIPTS / "stop-test-postgres")], env=self._env(), capture_output=True, timeout=60
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _free_port(preferred: int) -> int:
    """`preferred` if nothing listens there, else any free port: other people's test runs
    on this machine may have a private cluster of their own on the usual port."""
    import socket

    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port for a private PostgreSQL")


@contextmanager
def private_cluster(port: int = 55440) -> Iterator[PrivateCluster]:
    """Start a dedicated cluster (skip when PostgreSQL is not installed, fail under CI)."""
    port = _free_port(port)
    bindir = postgres_bindir()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL binaries are missing in CI: .ci/run must install postgresql")
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    # Not under pytest's tmp dirs: those are 0700 root and the postgres user cannot enter.
    data_dir = Path(f"/tmp/simsid-pgfault-{port}-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "PGPORT_TEST": str(port), "PGDATA_TEST": str(data_dir)}
    started = subprocess.run(
        [str(SCRIPTS / "start-test-postgres")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if started.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f"start-test-postgres failed: {started.stderr.strip()}")
    cluster = PrivateCluster(port, data_dir, bindir, started.stdout.strip().splitlines()[-1])
    try:
        yield cluster
    finally:
        cluster.destroy()
