"""`simsid-bot decide`: the dry run, --apply, exit codes and refusals, as an operator runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.db import Database
from store.models import State
from tests import factories
from tests.factories import get, install
from tests.test_cli import _env, run

_kept_open = pytest.fixture(autouse=True)(factories.kept_open)


def decide(tmp_path: Path, url: str, *args: str):  # type: ignore[no-untyped-def]
    return run(tmp_path, "decide", *args, env=_env(tmp_path, DATABASE_URL=url))


def test_dry_run_then_apply_then_nothing_to_do(db: Database, db_url: str, tmp_path: Path) -> None:
    one = install(db, site="a", urn="100001", dfe="823/4001", site_name="Alpha")
    two = install(db, site="b", urn="100002", site_name="Beta")
    source = tmp_path / "list.txt"
    source.write_text("100001, 8234001\n100002 999999\n")
    args = ("approve", "app-hw", "--from", str(source), "--as", "U0ADMIN01")

    dry = decide(tmp_path, db_url, *args)

    assert dry.returncode == 1, dry.stderr
    assert "2 will be approved" in dry.stdout
    assert "no match\t999999" in dry.stdout
    assert "duplicate\t8234001\tsame school as 100001" in dry.stdout
    assert get(db, one).state is State.PENDING

    applied = decide(tmp_path, db_url, *args, "--apply")

    assert applied.returncode == 0, applied.stderr
    assert "2 approved" in applied.stdout
    assert {get(db, one).state, get(db, two).state} == {State.ENABLED}
    again = decide(tmp_path, db_url, *args)
    assert again.returncode == 0, again.stderr
    assert "0 will be approved" in again.stdout


@pytest.mark.parametrize(
    ("content", "extra", "says"),
    [
        ("100001\n" + "9" * 10_000_000 + "\n", (), "line 2: longer than"),
        (" ".join(str(100000 + i) for i in range(5001)), (), "line 1: more than 5,000"),
        ("100001\n", ("--as", "bob"), "--as: must be a Slack user id"),
    ],
)
def test_bad_input_exits_2_naming_it(
    sqlite_url: str, tmp_path: Path, content: str, extra: tuple[str, ...], says: str
) -> None:
    source = tmp_path / "list.txt"
    source.write_text(content)
    args = ["approve", "app-hw", "--from", str(source), "--as", "U0ADMIN01", *extra]

    result = decide(tmp_path, sqlite_url, *args)

    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_app_and_a_disable_without_reason_exit_2(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "list.txt"
    source.write_text("100001\n")
    base = ["--from", str(source), "--as", "U0ADMIN01"]

    unknown = decide(tmp_path, sqlite_url, "approve", "no-such-app", *base)
    no_reason = decide(tmp_path, sqlite_url, "disable", "app-hw", *base)

    assert unknown.returncode == 2 and "APP: no application" in unknown.stderr
    assert no_reason.returncode == 2 and "--reason: required" in no_reason.stderr
