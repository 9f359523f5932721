"""Read-only queries behind /simsid and the digest, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from store import queries
from store.db import Database
from store.lifecycle import Action, EventType, Lifecycle
from store.models import Application, State
from tests.factories import (
    act,
    at,
    event,
    install,
    install_many,
    installation_id,
    kept_open,
    register_app,
)

_kept_open = pytest.fixture(autouse=True)(kept_open)

SPECIAL_SITES = {
    "sp-pct": "100% Academy",
    "sp-us": "St_Mary School",
    "sp-sql": "'; DROP TABLE site; --",
    "sp-fr": "École Saint-Étienne",
    "sp-dk": "Ørsted Skole",
    "sp-zh": "北京学校",
    "sp-quote": 'The "Quoted" O\'Brien School',
}


def lifecycle_at(when: datetime) -> Lifecycle:
    return Lifecycle(default_channel="C0DEFAULT", clock=lambda: when)


def seed_states(db: Database, app: str, states: list[State], *, site_prefix: str) -> list[int]:
    ids = []
    for i, state in enumerate(states):
        lc = lifecycle_at(at(i))
        iid = install(db, lc, app=app, site=f"{site_prefix}{i}", app_name=app.title())
        path = {
            State.PENDING: [],
            State.ENABLED: [Action.APPROVE],
            State.DISABLED: [Action.DISABLE],
            State.REMOVED: [Action.DISABLE, Action.REMOVE],
        }[state]
        for action in path:
            assert act(db, iid, action, lifecycle=lc).applied
        ids.append(iid)
    return ids


def all_pages(fetch: Any, limit: int) -> tuple[list[Any], list[queries.Page[Any]]]:
    """Every page, by Next from the first (each after the last item's cursor); then back
    again by Previous from the last, which must give the same pages."""
    items: list[Any] = []
    pages: list[queries.Page[Any]] = []
    page = fetch(limit=limit)
    while True:
        pages.append(page)
        items.extend(page.items)
        assert page.limit == limit
        assert len(page.items) <= limit
        assert len(page.keys) == len(page.items)
        assert page.has_previous is (len(pages) > 1)
        assert len(pages) < 100
        if not page.has_more:
            break
        assert len(page.items) == limit
        page = fetch(after=page.keys[-1], limit=limit)
    back = [pages[-1]]
    while back[-1].has_previous:
        back.append(fetch(before=back[-1].keys[0], limit=limit))
        assert back[-1].has_more
        assert len(back) <= len(pages)
    assert [p.items for p in reversed(back)] == [p.items for p in pages]
    assert [p.keys for p in reversed(back)] == [p.keys for p in pages]
    return items, pages


# -- summaries and listings ---------------------------------------------------------


def test_app_summaries_count_per_state(db: Database) -> None:
    P, E, D, R = State.PENDING, State.ENABLED, State.DISABLED, State.REMOVED
    seed_states(db, "app-b", [P, P, P, E, E, D, R, R], site_prefix="b")
    seed_states(db, "app-a", [E, R], site_prefix="a")
    register_app(db, "app-c", "Cold Storage")  # no installations at all

    with db.read() as session:
        page = queries.app_summaries(session)

    got = {s.app.id: (s.pending, s.enabled, s.disabled) for s in page.items}
    assert got == {"app-b": (3, 2, 1), "app-a": (0, 1, 0), "app-c": (0, 0, 0)}
    assert [s.app.name for s in page.items] == ["App-A", "App-B", "Cold Storage"]
    assert not page.has_more


def test_app_summaries_page(db: Database) -> None:
    for i in range(7):
        register_app(db, f"app-{i}", f"Application {i}")
    with db.read() as session:
        items, pages = all_pages(lambda **kw: queries.app_summaries(session, **kw), 3)
    assert [s.app.id for s in items] == [f"app-{i}" for i in range(7)]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [p.has_previous for p in pages] == [False, True, True]


def test_app_installations_pages_live_installations_by_site_name(db: Database) -> None:
    states = [State.PENDING, State.ENABLED, State.DISABLED, State.REMOVED] * 3 + [State.PENDING]
    ids = seed_states(db, "app-hw", states, site_prefix="site-")
    seed_states(db, "app-other", [State.ENABLED], site_prefix="site-")  # another app's
    live = {iid for iid, s in zip(ids, states, strict=True) if s is not State.REMOVED}

    with db.read() as session:
        items, pages = all_pages(lambda **kw: queries.app_installations(session, "app-hw", **kw), 3)
        again, _ = all_pages(lambda **kw: queries.app_installations(session, "app-hw", **kw), 3)

    assert [i.id for i in items] == [i.id for i in again]  # stable
    assert len(items) == len(set(i.id for i in items)) == len(live)
    assert {i.id for i in items} == live
    assert all(i.app.id == "app-hw" and i.state is not State.REMOVED for i in items)
    names = [(i.site.name.lower(), i.site.id) for i in items]
    assert names == sorted(names)
    assert pages[-1].has_more is False and all(p.has_more for p in pages[:-1])
    with db.read() as session:
        assert queries.app_installations(session, "app-nobody").items == ()


def test_customers_pages_sites_with_live_installations(db: Database) -> None:
    lc = lifecycle_at(at(0))
    for i in range(11):
        install(db, lc, app="app-a", site=f"c{i:02d}", site_name=f"Customer {i:02d}")
    for i in range(0, 11, 2):
        install(db, lc, app="app-b", site=f"c{i:02d}", site_name=f"Customer {i:02d}")
    # A site whose only installation is removed is not a customer.
    gone = install(db, lc, app="app-a", site="zz-gone", site_name="Aardvark Gone")
    assert act(db, gone, Action.REMOVE, lifecycle=lc).applied
    # A removed installation does not show among a customer's applications.
    old = install(db, lc, app="app-c", site="c01", site_name="Customer 01")
    assert act(db, old, Action.REMOVE, lifecycle=lc).applied

    with db.read() as session:
        items, pages = all_pages(lambda **kw: queries.customers(session, **kw), 5)

    assert [c.site.id for c in items] == [f"c{i:02d}" for i in range(11)]
    assert [p.has_more for p in pages] == [True, True, False]
    apps = {c.site.id: sorted(i.app.id for i in c.installations) for c in items}
    assert apps["c00"] == ["app-a", "app-b"]
    assert apps["c01"] == ["app-a"]
    with db.read() as session:
        assert [i.app.id for i in queries.customer_installations(session, "c01")] == ["app-a"]


def test_customers_show_each_application_by_name_with_its_state(db: Database) -> None:
    """A customer's applications, read with the page in one statement, come by name with
    their states; ids with quotes, commas and brackets survive the round trip."""
    lc = lifecycle_at(at(0))
    odd = 'app-"odd", [1]'
    for app, name in [("app-z", "Attendance"), (odd, "Zebra Maths"), ("app-a", "Meals")]:
        install(db, lc, app=app, site="s1", app_name=name, site_name="One")
    install(db, lc, app="app-a", site="s2", app_name="Meals", site_name="Two")
    assert act(db, installation_id(db, "app-z", "s1"), Action.APPROVE, lifecycle=lc).applied
    assert act(db, installation_id(db, odd, "s1"), Action.DISABLE, lifecycle=lc).applied

    with db.read() as session:
        found = queries.customers(session).items

    shown = {c.site.id: [(i.app.id, i.app.name, i.state) for i in c.installations] for c in found}
    assert shown == {
        "s1": [
            ("app-z", "Attendance", State.ENABLED),
            ("app-a", "Meals", State.PENDING),
            (odd, "Zebra Maths", State.DISABLED),
        ],
        "s2": [("app-a", "Meals", State.PENDING)],
    }


def test_customers_search_by_name_urn_and_dfe(db: Database) -> None:
    lc = lifecycle_at(at(0))
    install(db, lc, site="oak", site_name="Oakfield Primary", urn="123456", dfe="823/4001")
    install(db, lc, site="ash", site_name="Ashfield Academy", urn="654321", dfe="823/4002")
    install(db, lc, site="elm", site_name="Elm Tree Infants", urn="111111", dfe="999/0001")

    def search(term: str) -> list[str]:
        with db.read() as session:
            return [c.site.id for c in queries.customers(session, search=term).items]

    assert search("field") == ["ash", "oak"]
    assert search("OAKFIELD") == ["oak"]
    assert search("  primary ") == ["oak"]
    assert search("654321") == ["ash"]
    assert search("999/0001") == ["elm"]
    assert search("elm") == ["elm"]  # the site id
    assert search("nothing like it") == []
    assert search("") == ["ash", "elm", "oak"]


def test_pending_oldest_first_and_paged(db: Database) -> None:
    # Installed in an order that differs from their age.
    minutes = [50, 10, 40, 0, 30, 20, 60]
    for i, minute in enumerate(minutes):
        install(db, lifecycle_at(at(minute)), site=f"p{i}", app="app-a" if i % 2 else "app-b")
    enabled = install(db, lifecycle_at(at(-100)), site="p-enabled")
    assert act(db, enabled, Action.APPROVE).applied

    with db.read() as session:
        items, pages = all_pages(lambda **kw: queries.pending(session, **kw), 3)

    assert [i.created_at for i in items] == sorted(at(m) for m in minutes)
    assert [i.site.id for i in items] == ["p3", "p1", "p5", "p4", "p2", "p0", "p6"]
    assert all(i.state is State.PENDING for i in items)
    assert [p.has_more for p in pages] == [True, True, False]


def test_pending_counts_per_application(db: Database) -> None:
    for i, minute in enumerate([30, 5, 20]):
        install(db, lifecycle_at(at(minute)), app="app-many", site=f"m{i}")
    install(db, lifecycle_at(at(1)), app="app-one", site="o1")
    done = install(db, lifecycle_at(at(0)), app="app-none", site="n1")
    assert act(db, done, Action.APPROVE).applied

    with db.read() as session:
        counts = queries.pending_counts(session)

    assert [(c.app.id, c.count, c.oldest) for c in counts] == [
        ("app-many", 3, at(5)),
        ("app-one", 1, at(1)),
    ]
    assert counts[0].oldest.tzinfo is not None


# -- matching -----------------------------------------------------------------------


def test_match_apps_by_id_slug_or_name_in_any_case(db: Database) -> None:
    register_app(db, "app-hw", "Homework Hub")
    register_app(db, "app-hh", "Homework Helper")
    register_app(db, "att-01", "Attendance")

    def match(term: str) -> list[str]:
        with db.read() as session:
            return sorted(a.id for a in queries.match_apps(session, term))

    assert match("APP-HW") == ["app-hw"]
    assert match("homework-hub") == ["app-hw"]
    assert match("HOMEWORK helper") == ["app-hh"]
    assert match("  attendance ") == ["att-01"]
    # Ambiguous: every candidate, so the reply can ask which.
    assert match("homework") == ["app-hh", "app-hw"]
    assert match("HOME") == ["app-hh", "app-hw"]
    assert match("nothing") == []
    assert match("   ") == []


def test_match_sites_by_id_urn_dfe_or_name(db: Database) -> None:
    lc = lifecycle_at(at(0))
    install(db, lc, site="4f0c2a9e", site_name="Oakfield Primary", urn="123456", dfe="823/4001")
    install(db, lc, site="77aa", site_name="Oakfield Secondary", urn="123457", dfe="823/4002")

    def match(term: str) -> list[str]:
        with db.read() as session:
            return sorted(s.id for s in queries.match_sites(session, term))

    assert match("4f0c2a9e") == ["4f0c2a9e"]
    assert match("123457") == ["77aa"]
    assert match("823/4001") == ["4f0c2a9e"]
    assert match("oakfield primary") == ["4f0c2a9e"]
    assert match("Oakfield") == ["4f0c2a9e", "77aa"]
    assert match("zzz") == []


# -- audit --------------------------------------------------------------------------


def test_audit_latest_first_and_filtered_by_site(db: Database) -> None:
    lc = lifecycle_at(at(0))
    one = install(db, lc, site="s1")
    two = install(db, lc, site="s2")
    install(db, lc, app="app-other", site="s1")
    for action in (Action.APPROVE, Action.DISABLE, Action.ENABLE):
        assert act(db, one, action, lifecycle=lc, actor="U0ONE").applied
    assert act(db, two, Action.REMOVE, lifecycle=lc, actor="U0TWO").applied

    with db.read() as session:
        everything = queries.audit(session, app_id="app-hw")
        site_one = queries.audit(session, app_id="app-hw", site_id="s1")
        newest = queries.audit(session, app_id="app-hw", site_id="s1", limit=1)
        paged = queries.audit(
            session, app_id="app-hw", site_id="s1", after=newest.keys[-1], limit=2
        )

    ids = [line.id for line in everything.items]
    assert ids == sorted(ids, reverse=True)
    assert [line.action for line in site_one.items] == ["enable", "disable", "approve", "installed"]
    assert {line.site_name for line in site_one.items} == {"School s1"}
    assert {line.app_name for line in site_one.items} == {"App app-hw"}
    assert [line.action for line in everything.items][:2] == ["remove", "enable"]
    assert len(everything.items) == 6  # app-other's row is not here
    assert [line.action for line in paged.items] == ["disable", "approve"]
    assert paged.has_more and paged.has_previous
    first = site_one.items[0]
    assert (first.actor, first.from_state, first.to_state) == ("U0ONE", "disabled", "enabled")


# -- awkward names ------------------------------------------------------------------


@pytest.fixture
def special(db: Database) -> Database:
    lc = lifecycle_at(at(0))
    for site_id, name in SPECIAL_SITES.items():
        install(db, lc, site=site_id, site_name=name)
    install(db, lc, site="plain", site_name="Plain School")
    register_app(db, "app-pct", "50% Off_Sale")
    register_app(db, "app-inj", "'; DROP TABLE application; --")
    register_app(db, "app-uni", "Élève Über 数学")
    register_app(db, "app-plain", "Plain Sale")
    return db


def test_special_names_are_stored_exactly(special: Database) -> None:
    with special.read() as session:
        stored = dict(session.execute(text("SELECT id, name FROM site")).all())  # type: ignore[arg-type]
        tables = set(session.execute(text("SELECT 1 FROM site LIMIT 1")).scalars())
        page = queries.customers(session, limit=50)
    assert tables == {1}  # the table is still there
    for site_id, name in SPECIAL_SITES.items():
        assert stored[site_id] == name
    shown = {c.site.id: c.site.name for c in page.items}
    assert {k: shown[k] for k in SPECIAL_SITES} == SPECIAL_SITES


def test_special_site_names_match_exactly_as_given(special: Database) -> None:
    with special.read() as session:
        for site_id, name in SPECIAL_SITES.items():
            matched = [s.id for s in queries.match_sites(session, name)]
            searched = [c.site.id for c in queries.customers(session, search=name).items]
            assert matched == [site_id], name
            assert searched == [site_id], name


def test_wildcards_in_searches_are_literal(special: Database) -> None:
    with special.read() as session:
        assert [c.site.id for c in queries.customers(session, search="%").items] == ["sp-pct"]
        assert [c.site.id for c in queries.customers(session, search="_").items] == ["sp-us"]
        assert [s.id for s in queries.match_sites(session, "%")] == ["sp-pct"]
        assert [s.id for s in queries.match_sites(session, "_")] == ["sp-us"]
        assert [s.id for s in queries.match_sites(session, "'")] == ["sp-sql", "sp-quote"] or [
            s.id for s in queries.match_sites(session, "'")
        ] == ["sp-quote", "sp-sql"]
        assert [a.id for a in queries.match_apps(session, "%")] == ["app-pct"]
        assert [a.id for a in queries.match_apps(session, "_")] == ["app-pct"]


def test_unicode_names_match_in_any_case(special: Database) -> None:
    with special.read() as session:
        assert [s.id for s in queries.match_sites(session, "école saint-étienne")] == ["sp-fr"]
        assert [s.id for s in queries.match_sites(session, "ØRSTED")] == ["sp-dk"]
        assert [s.id for s in queries.match_sites(session, "ørsted")] == ["sp-dk"]
        assert [c.site.id for c in queries.customers(session, search="ÉCOLE").items] == ["sp-fr"]
        assert [a.id for a in queries.match_apps(session, "élève über 数学")] == ["app-uni"]
        assert [a.id for a in queries.match_apps(session, "ÜBER")] == ["app-uni"]


def test_special_app_names_match_exactly_as_given(special: Database) -> None:
    cases = [
        ("50% Off_Sale", "app-pct"),
        ("'; DROP TABLE application; --", "app-inj"),
        ("Élève Über 数学", "app-uni"),
        ("数学", "app-uni"),
        ("Über", "app-uni"),
    ]
    with special.read() as session:
        for term, app_id in cases:
            assert [a.id for a in queries.match_apps(session, term)] == [app_id], term
        assert session.execute(text("SELECT count(*) FROM application")).scalar_one() == 5


def test_unicode_event_names_round_trip(db: Database) -> None:
    lc = lifecycle_at(at(0))
    with db.session() as session:
        lc.apply_event(
            session,
            event(
                "app-ü",
                "site-ø",
                EventType.CREATED,
                app_name="Ünïcödé App ✓",
                site_name="Skolen på Øen <!channel> & co",
            ),
        )
    with db.read() as session:
        [info] = queries.pending(session).items
        [app] = queries.match_apps(session, "Ünïcödé App ✓")
    assert info.site.name == "Skolen på Øen <!channel> & co"
    assert info.app.name == app.name == "Ünïcödé App ✓"


# -- cost per page ------------------------------------------------------------------


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)


def test_a_page_costs_a_bounded_number_of_statements(db: Database) -> None:
    apps = ("app-a", "app-b", "app-c")
    install_many(
        db,
        lifecycle_at(at(0)),
        sites=[(app, f"site-{i:02d}") for i in range(15) for app in apps[: 1 + i % 3]],
    )
    for i in range(8):
        register_app(db, f"app-x{i}", f"Extra {i}")

    calls = {
        "customers": lambda s, n: queries.customers(s, limit=n),
        "customers search": lambda s, n: queries.customers(s, search="site", limit=n),
        "pending": lambda s, n: queries.pending(s, limit=n),
        "app_summaries": lambda s, n: queries.app_summaries(s, limit=n),
        "app_installations": lambda s, n: queries.app_installations(s, "app-a", limit=n),
    }
    for size in (1, 3, 12):
        for name, call in calls.items():
            with db.read() as session:
                session.execute(text("SELECT 1"))  # begin the transaction outside the count
                with statements(db) as seen:
                    page = call(session, size)
            assert 0 < len(page.items) <= size
            assert len(seen) <= 3, f"{name}, page of {size}: {len(seen)} statements: {seen}"
        with db.read() as session:
            assert len(queries.customers(session, limit=size).items) == size
            assert len(queries.pending(session, limit=size).items) == size


# -- keyset paging across equal sort keys ---------------------------------------------


def test_paging_across_equal_site_names_shows_each_customer_once(db: Database) -> None:
    """Pages break inside runs of equal names (the id decides): nothing is skipped or
    repeated, forwards or backwards, whatever the page size."""
    lc = lifecycle_at(at(0))
    names = ["Oak", "oak", "OAK", "Ash", "Oak", "Elm", "ash", "Oak", "oak", "Ash"]
    for n, name in enumerate(names):
        install(db, lc, app="app-a", site=f"site-{n:02d}", site_name=name)
        install(db, lc, app="app-b", site=f"site-{n:02d}", site_name=name)
    expected = sorted((name.lower(), f"site-{n:02d}") for n, name in enumerate(names))
    for limit in (1, 2, 3, 4, 7, 20):
        with db.read() as session:
            items, _ = all_pages(lambda **kw: queries.customers(session, **kw), limit)
            infos, _ = all_pages(
                lambda **kw: queries.app_installations(session, "app-b", **kw), limit
            )
            found, _ = all_pages(lambda **kw: queries.customers(session, search="oak", **kw), limit)
        assert [(c.site.name.lower(), c.site.id) for c in items] == expected
        assert [(i.site.name.lower(), i.site.id) for i in infos] == expected
        assert [c.site.id for c in found] == [s for name, s in expected if name == "oak"]


def test_paging_across_equal_times_and_app_names(db: Database) -> None:
    """Pending installations made in the same instant, and applications of the same name."""
    same = lifecycle_at(at(5))
    for n in range(9):
        install(db, same, app="app-a", site=f"s{n}")
    install(db, lifecycle_at(at(1)), app="app-a", site="early")
    with db.session() as session:
        for n in range(6):
            name = "Same Name" if n % 2 else "same name"
            session.add(Application(id=f"dup-{n}", name=name, slug=f"dup-{n}"))
    with db.read() as session:
        ids = [i.id for i in queries.pending(session, limit=100).items]
        apps = [s.app.id for s in queries.app_summaries(session, limit=100).items]
    for limit in (1, 2, 4):
        with db.read() as session:
            items, _ = all_pages(lambda **kw: queries.pending(session, **kw), limit)
            summaries, _ = all_pages(lambda **kw: queries.app_summaries(session, **kw), limit)
        assert [i.id for i in items] == ids
        assert [s.app.id for s in summaries] == apps
    assert ids[1:] == sorted(ids[1:])  # the same instant: by id
    assert apps[-6:] == sorted(apps[-6:])


def test_audit_pages_newest_first_by_cursor(db: Database) -> None:
    lc = lifecycle_at(at(0))
    one = install(db, lc, site="s1")
    for _ in range(4):
        for action in (Action.APPROVE, Action.DISABLE, Action.ENABLE):
            act(db, one, action, lifecycle=lc)
    with db.read() as session:
        everything = queries.audit(session, app_id="app-hw", limit=100).items
        items, _ = all_pages(lambda **kw: queries.audit(session, app_id="app-hw", **kw), 3)
    assert [line.id for line in items] == [line.id for line in everything]
    assert [line.id for line in items] == sorted((line.id for line in items), reverse=True)


def test_one_customers_applications_page_by_name_both_ways(db: Database) -> None:
    """Names that fold differently in SQL and Python, and two apps of one name: every
    application once, in the order of the unpaged listing, forward and back."""
    lc = lifecycle_at(at(0))
    names = ["Ärzte", "attendance", "Zebra", "Éclair", "Meals", "meals", "ÖKO", "bus"]
    for n, name in enumerate(names):
        install(db, lc, app=f"app-{n}", app_name=name, site="s1")
    gone = install(db, lc, app="app-gone", app_name="Gone", site="s1")
    assert act(db, gone, Action.REMOVE, lifecycle=lc).applied
    with db.read() as session:
        whole = [i.app.id for i in queries.customer_installations(session, "s1")]
        items, pages = all_pages(lambda **kw: queries.customer_page(session, "s1", **kw), 3)
        assert queries.has_enabled(session, "s1") is False
    assert [i.app.id for i in items] == whole
    assert sorted(whole) == sorted(f"app-{n}" for n in range(len(names)))
    assert len(pages) == 3
    act(db, installation_id(db, "app-3", "s1"), Action.APPROVE, lifecycle=lc)
    with db.read() as session:
        assert queries.has_enabled(session, "s1") is True


def test_a_cursor_of_the_wrong_kind_is_refused(db: Database) -> None:
    with db.read() as session, pytest.raises(ValueError):
        queries.pending(session, after=("not a time", 1))
