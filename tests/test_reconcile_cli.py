"""`simsid-bot reconcile` as an operator runs it: files and URLs, the table, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.reconcile import snapshot
from bot.reconcile.snapshot import HEADER
from store.db import Database
from store.lifecycle import Action
from store.models import State
from testing.list_server import ListServer
from tests import factories
from tests.factories import act, get, install, installation_id
from tests.test_cli import _env, run

_kept_open = pytest.fixture(autouse=True)(factories.kept_open)

TOKEN = "list-token-0123456789"
SECRET = "q" * 43


def csv_text(*rows: str) -> str:
    return HEADER + "\n" + "".join(row + "\n" for row in rows)


def row(site: str, enabled: str, key: str = "", secret: str = "", app: str = "app-hw") -> str:
    return f"{app},App {app},{site},School {site},,,{enabled},{key},{secret}"


def reconcile(tmp_path: Path, url: str, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return run(tmp_path, "reconcile", *args, env=_env(tmp_path, DATABASE_URL=url, **env))


def test_dry_run_lists_every_difference_then_apply_makes_the_bot_agree(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    act(db, install(db, site="yes"), Action.DISABLE)
    enabled = install(db, site="no")
    act(db, enabled, Action.APPROVE)
    install(db, site="gone")
    source = tmp_path / "list.csv"
    source.write_text(
        csv_text(
            row("yes", "yes"),
            row("no", "no"),
            row("new", "true"),
            row("keyed", "0", "ck_" + "K" * 24, SECRET),
        )
    )

    dry = reconcile(tmp_path, db_url, str(source))

    assert dry.returncode == 1, dry.stderr
    for kind, site in [
        ("new", "School new (new)"),
        ("gone", "School gone (gone)"),
        ("approved in SIMS ID", "School yes (yes)"),
        ("disabled in SIMS ID", "School no (no)"),
        ("credentials differ", "School keyed (keyed)"),
    ]:
        assert any(line.startswith(kind) and site in line for line in dry.stdout.splitlines()), (
            kind,
            dry.stdout,
        )
    assert SECRET not in dry.stdout
    assert "nothing changed" in dry.stdout
    assert get(db, enabled).state is State.ENABLED

    applied = reconcile(tmp_path, db_url, str(source), "--apply")

    assert applied.returncode == 0, applied.stderr
    assert "applied as SIMS ID" in applied.stdout
    assert get(db, enabled).state is State.DISABLED
    assert get(db, installation_id(db, site="yes")).state is State.ENABLED
    assert get(db, installation_id(db, site="gone")).state is State.REMOVED

    again = reconcile(tmp_path, db_url, str(source))
    assert again.returncode == 0, again.stdout
    assert "in agreement" in again.stdout


def test_too_many_removals_exit_2_and_change_nothing_unless_forced(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    for n in range(3):
        install(db, site=f"s{n}")
    source = tmp_path / "list.csv"
    source.write_text(csv_text(row("s0", "no")))

    refused = reconcile(tmp_path, db_url, str(source), "--apply", "--max-changes", "1")
    # The option's former name still works, and counts the same changes.
    former = reconcile(tmp_path, db_url, str(source), "--apply", "--max-removals", "1")

    for result in (refused, former):
        assert result.returncode == 2
        assert "remove 2, disable 0 and approve 0" in result.stderr
        assert "--force" in result.stderr
    assert get(db, installation_id(db, site="s1")).state is State.PENDING

    forced = reconcile(tmp_path, db_url, str(source), "--apply", "--max-changes", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert get(db, installation_id(db, site="s1")).state is State.REMOVED


def test_disables_from_a_list_count_against_the_limit(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    enabled = [install(db, site=f"s{n}") for n in range(3)]
    for inst in enabled:
        act(db, inst, Action.APPROVE)
    source = tmp_path / "list.csv"
    source.write_text(csv_text(*(row(f"s{n}", "no") for n in range(3))))

    refused = reconcile(tmp_path, db_url, str(source), "--apply", "--max-changes", "2")

    assert refused.returncode == 2, refused.stdout
    assert "remove 0, disable 3 and approve 0" in refused.stderr
    assert [get(db, i).state for i in enabled] == [State.ENABLED] * 3
    assert reconcile(tmp_path, db_url, str(source), "--apply").returncode == 0
    assert [get(db, i).state for i in enabled] == [State.DISABLED] * 3


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (
            "application.id,site.id,site.name,enabled\napp,s1,S,yes\n",
            "missing column application.name",
        ),
        (csv_text(row("s1", "yes"), row("s2", "maybe")), "line 3: enabled: must be yes/no"),
        (csv_text(row("s1", "yes"), row("", "yes")), "line 3: site.id is missing"),
        (csv_text(row("s1", "yes"), row("s1", "no")), "line 3: application.id, site.id"),
        (csv_text(row("s1", "yes", "ck_" + "a" * 24)), "line 2: client_secret is missing"),
        (
            '{"application": {"id": "a", "name": "A"}, "site": {"id": "s", "name": "S"}}\n',
            "line 1: enabled is missing",
        ),
        ("", "empty"),
        # Were a RuntimeError traceback (the header loop ran out of lines).
        (",,,\n", "no header"),
        ("  ,  \n\n", "no header"),
    ],
)
def test_bad_input_exits_2_naming_line_and_field_and_changes_nothing(
    db: Database, db_url: str, tmp_path: Path, content: str, named: str
) -> None:
    inst = install(db, site="s1")
    source = tmp_path / "list.csv"
    source.write_text(content)

    result = reconcile(tmp_path, db_url, str(source), "--apply", "--force")

    assert result.returncode == 2, result.stdout
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert get(db, inst).state is State.PENDING


LEAKED = "S3cr3tBirchw00dKEY-9"
JSON_ROW = {"application": {"id": "a", "name": "A"}, "site": {"id": "s", "name": "S"}}


@pytest.mark.parametrize(
    ("content", "named"),
    [
        # The URN and DfE columns left out, not left empty: the secret fell into `enabled`,
        # and the refusal quoted it.
        (
            csv_text(row("s1", "yes"), f"app-hw,App,s2,School,yes,ck_{'k' * 24},{LEAKED}"),
            "line 3: 7 fields where the header has 9",
        ),
        (csv_text(f"app-hw,App,s1,School,,,yes,ck_{'k' * 24},{LEAKED},extra"), "line 2: 10 fields"),
        (csv_text(row("s1", LEAKED)), "line 2: enabled: must be yes/no"),
        (csv_text(row("s1", "yes", "ck_" + "k" * 24, LEAKED + " x")), "client_secret: must not"),
        (csv_text(row("s1", "yes", LEAKED * 4, "s" * 43)), "line 2: client_key: longer than 64"),
        (json.dumps(JSON_ROW | {"enabled": LEAKED}) + "\n", "line 1: enabled: must be yes/no"),
    ],
)
def test_a_bad_row_is_named_by_line_and_field_never_by_its_value(
    db: Database, db_url: str, tmp_path: Path, content: str, named: str
) -> None:
    """An error about a list is the same text on the terminal, in the channel, /healthz
    and the log: line, field and problem, never a value from the list."""
    source = tmp_path / "list.csv"
    source.write_text(content)

    result = reconcile(tmp_path, db_url, str(source), "--apply", "--force")

    assert result.returncode == 2, result.stdout
    assert named in result.stderr
    assert LEAKED[:8] not in result.stdout + result.stderr
    assert installation_ids(db) == []


@pytest.mark.parametrize("form", ["csv", "json"])
def test_a_list_over_the_row_cap_is_refused_naming_the_cap(form: str) -> None:
    """Past `max_rows` a list is refused as it is read, naming the cap: holding every row
    of a list at the size cap would need 4-5 GB."""
    rows = [row(f"s{n}", "no") for n in range(6)]
    if form == "json":
        site = {"application": {"id": "a", "name": "A"}, "site": {"name": "S"}, "enabled": False}
        body = "".join(
            json.dumps(site | {"site": {"id": f"s{n}", "name": "S"}}) + "\n" for n in range(6)
        )
    else:
        body = csv_text(*rows)

    assert len(snapshot.parse(body.encode(), max_rows=6)) == 6
    with pytest.raises(snapshot.SnapshotError) as refused:
        snapshot.parse(body.encode(), max_rows=5)

    assert "more than 5 rows" in str(refused.value)
    assert snapshot.MAX_ROWS == 2_000_000


def test_duplicates_are_named_by_both_lines() -> None:
    body = csv_text(
        row("s1", "no", "ck_" + "a" * 24, SECRET),
        row("s2", "no"),
        row("s1", "yes"),
        row("s3", "no", "ck_" + "a" * 24, SECRET),
        row("s2", "no"),
    )
    with pytest.raises(snapshot.SnapshotError) as refused:
        snapshot.parse(body.encode())
    assert str(refused.value).splitlines()[1:] == [
        "  line 4: application.id, site.id: already listed on line 2",
        "  line 5: client_key: also given on line 2",
        "  line 6: application.id, site.id: already listed on line 3",
    ]


def installation_ids(db: Database) -> list[int]:
    from sqlalchemy import select

    from store.models import Installation

    with db.read() as session:
        return list(session.scalars(select(Installation.id)))


def test_json_lines_from_a_file_url(db: Database, db_url: str, tmp_path: Path) -> None:
    source = tmp_path / "list.jsonl"
    line = {
        "application": {"id": "app-hw", "name": "Homework Hub"},
        "site": {"id": "s1", "name": "Oakfield", "urn": 123456},
        "enabled": True,
    }
    source.write_text(json.dumps(line) + "\n")

    result = reconcile(tmp_path, db_url, source.as_uri(), "--apply")

    assert result.returncode == 0, result.stderr
    assert get(db, installation_id(db, site="s1")).state is State.ENABLED


def test_a_url_is_fetched_with_the_bearer_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with ListServer(TOKEN, csv_text(row("s1", "yes")).encode()) as server:
        home = {"SIMSID_RECONCILE_URL": server.url}
        ok = reconcile(tmp_path, url, server.url, SIMSID_RECONCILE_TOKEN=TOKEN, **home)
        wrong = reconcile(
            tmp_path, url, server.url, SIMSID_RECONCILE_TOKEN="another-token-000", **home
        )
        server.redirect_to = "http://localhost:9/elsewhere.csv"
        moved = reconcile(tmp_path, url, server.url, SIMSID_RECONCILE_TOKEN=TOKEN, **home)

    assert ok.returncode == 1 and "new" in ok.stdout, ok.stderr
    assert server.authorizations[0] == f"Bearer {TOKEN}"
    assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr
    assert moved.returncode == 2 and "redirects to another host are refused" in moved.stderr
    for result in (ok, wrong, moved):
        assert TOKEN not in result.stdout + result.stderr


def test_a_remote_source_must_be_https(tmp_path: Path) -> None:
    result = reconcile(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", "http://example.com/list.csv")
    assert result.returncode == 2 and "https://" in result.stderr


def test_a_list_cut_short_in_transit_changes_nothing(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """A body that ends before its Content-Length is a failed fetch, not the whole list:
    applied, it would uninstall every customer it lost (and destroy their secrets)."""
    kept = [install(db, site=f"s{n}") for n in range(4)]
    body = csv_text(*(row(f"s{n}", "no") for n in range(4))).encode()
    with ListServer(TOKEN, body) as server:
        server.cut_short = True
        result = reconcile(
            tmp_path,
            db_url,
            server.url,
            "--apply",
            "--force",
            SIMSID_RECONCILE_TOKEN=TOKEN,
            SIMSID_RECONCILE_URL=server.url,
        )
    assert result.returncode == 2 and "cut short" in result.stderr, result.stderr
    assert [get(db, i).state for i in kept] == [State.PENDING] * 4


def test_json_strings_may_hold_line_separators(db: Database, db_url: str, tmp_path: Path) -> None:
    """U+2028 is legal in a JSON string: a line of the list ends only at "\\n"."""
    source = tmp_path / "list.jsonl"
    lines = [
        {"application": {"id": "app-hw", "name": "Homework Hub"},
         "site": {"id": f"s{n}", "name": f"Oak\u2028{n}\u0085Hill"}, "enabled": True}
        for n in range(3)
    ]  # fmt: skip
    source.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    result = reconcile(tmp_path, db_url, str(source), "--apply")
    assert result.returncode == 0, result.stderr
    assert get(db, installation_id(db, site="s2")).state is State.ENABLED


def test_a_list_whose_key_clashes_with_the_bots_is_refused_cleanly(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """The list gives s0 the key the bot issued to s1: on PostgreSQL the clean-up ran in
    the failed transaction and its error, a traceback with exit 1, replaced the refusal."""
    from sqlalchemy import select

    from store.models import Credential

    first, second = install(db, site="s0"), install(db, site="s1")
    act(db, first, Action.APPROVE)
    act(db, second, Action.APPROVE)
    with db.read() as session:
        taken = session.scalar(
            select(Credential.client_key).where(Credential.installation_id == second)
        )
    source = tmp_path / "list.csv"
    source.write_text(csv_text(row("s0", "yes", str(taken), SECRET), row("s1", "yes")))

    result = reconcile(tmp_path, db_url, str(source), "--apply")

    assert result.returncode == 2, result.stderr
    assert "clashes" in result.stderr and "Traceback" not in result.stderr
    assert [get(db, i).state for i in (first, second)] == [State.ENABLED, State.ENABLED]


PASSWORD = "Pa55-w0rd-in-the-url"


@pytest.mark.parametrize(
    "source",
    [
        f"https://reader:{PASSWORD}@lists.example.org/list.csv",
        f"http://reader:{PASSWORD}@127.0.0.1:9/list.csv",
        f"https://{PASSWORD}@lists.example.org/list.csv",
    ],
)
def test_a_url_with_credentials_is_refused_and_its_password_never_shown(
    tmp_path: Path, source: str
) -> None:
    """`https://user:pass@host/list` is refused before any fetch (exit 2): http.client would
    read `pass@host` as a port and put the password in its error."""
    result = reconcile(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", source)
    assert result.returncode == 2, result.stderr
    assert "user name or password" in result.stderr and "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_the_token_goes_only_to_the_reconcile_urls_host_unless_token_is_given(
    tmp_path: Path,
) -> None:
    """SIMSID_RECONCILE_TOKEN goes only to SIMSID_RECONCILE_URL's host, not to whatever URL
    is typed; `--token` sends one elsewhere."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    body = csv_text(row("s1", "yes")).encode()
    with ListServer(TOKEN, body) as home, ListServer(TOKEN, body) as other:
        env = {"SIMSID_RECONCILE_URL": home.url, "SIMSID_RECONCILE_TOKEN": TOKEN}
        at_home = reconcile(tmp_path, url, home.url.replace("list.csv", "other.csv"), **env)
        elsewhere = reconcile(tmp_path, url, other.url, **env)
        unset = reconcile(tmp_path, url, other.url, SIMSID_RECONCILE_TOKEN=TOKEN)
        told = reconcile(tmp_path, url, other.url, "--token", **env)

    assert at_home.returncode == 1, at_home.stderr
    assert home.authorizations == [f"Bearer {TOKEN}"]
    assert other.authorizations == [None, None, f"Bearer {TOKEN}"]
    for refused in (elsewhere, unset):
        assert refused.returncode == 2 and "HTTP 401" in refused.stderr, refused.stderr
        assert "not sent" in refused.stderr and "--token" in refused.stderr
    assert told.returncode == 1, told.stderr
    for result in (at_home, elsewhere, unset, told):
        assert TOKEN not in result.stdout + result.stderr


_HUGE_HEADER = b"X-Filler: " + b"a" * (70 * 1024) + b"\r\n"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (b"HTTP/1.1 two hundred OK\r\n\r\n", "answer"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + HEADER.encode()[:20],
            "answer",
        ),
        (b"HTTP/1.1 200 OK\r\n" + _HUGE_HEADER + b"\r\n", "answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\xb2\r\n\r\n" + HEADER.encode(), "answer"),
    ],
    ids=["bad status line", "chunked cut short", "header over 64 KiB", "non-ASCII length"],
)
def test_every_failure_to_fetch_exits_2_naming_it(tmp_path: Path, raw: bytes, named: str) -> None:
    """Each raised out of the fetch: exit 1 and a traceback."""
    with ListServer(TOKEN) as server:
        server.raw = raw
        env = {"SIMSID_RECONCILE_URL": server.url, "SIMSID_RECONCILE_TOKEN": TOKEN}
        result = reconcile(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", server.url, **env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"simsid-bot: SOURCE: {server.url}"), result.stderr
    assert named in result.stderr


@pytest.mark.parametrize(
    "source", ["http://[::1/list.csv", "https://lists.example.org:99999/list.csv"]
)
def test_a_malformed_url_exits_2_naming_it(tmp_path: Path, source: str) -> None:
    result = reconcile(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}", source)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("simsid-bot: SOURCE:") and "Traceback" not in result.stderr
