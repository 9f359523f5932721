"""Hostile and maximal data through the running bot: every payload reaches a stand-in that
refuses, as Slack does, what Slack would refuse (bot/sandbox/blockkit.py).

120 applications with hostile names, a school with 40 of them, the longest reason, 1,000
audit rows of one installation; then the burst summary, install messages in each state,
every listing and each of its pages, the audit, a secret, the forms, the digest, reminders
and both Home tabs. The conftest's stand-in fails the test on any refusal; the harness
checks the bot's own answers to Slack (command replies, a form's response_action view),
dispatched in process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from bot.app import BotApp
from bot.background.scheduler import Scheduler
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from bot.slack.views.modals import REASON_MAX
from store.lifecycle import Action, EventType, InstallEvent
from store.models import AuditEntry, Installation, State
from tests.harness import ADMIN, CHANNEL, OUTSIDER, Client, buttons, install_and_wait
from tests.test_views_matrix import NAMES

KINDS = list(NAMES)
SCHOOL = "school-40"  # the school with 40 applications
REASON = ("Billing & <!channel> *late* 🏫\nمدرسة " * 20)[:REASON_MAX]


def name(n: int) -> str:
    """A hostile name, a different kind for each n; the number keeps it findable."""
    return f"{NAMES[KINDS[n % len(KINDS)]]} {n:03}"[-500:]


def seed(bot: BotApp) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with bot.db.session() as session:
        for n in range(120):
            for site, site_name in ((f"site-{n:03}", name(n + 1)), (SCHOOL, name(7))):
                if site == SCHOOL and n >= 40:
                    continue
                event = InstallEvent(
                    f"e{n}-{site}", EventType.CREATED, long_ago, f"app-{n:03}", name(n),
                    site, site_name, name(n + 2)[:100], name(n + 3)[:100],
                )  # fmt: skip
                bot.lifecycle.apply_event(session, event)
    with bot.db.session() as session:
        ids = {
            (i.application_id, i.site_id): int(i.id or 0)
            for i in session.scalars(select(Installation))
        }
    actions = [
        (Action.APPROVE, None),
        (Action.DISABLE, REASON),
        (Action.REMOVE, REASON),
        (Action.DISABLE, None),
    ]
    for n in range(0, 40, 2):  # every state, some with the longest reason
        action, reason = actions[(n // 2) % len(actions)]
        for site in (f"site-{n:03}", SCHOOL):
            with bot.db.session() as session:
                installation = ids[(f"app-{n:03}", site)]
                if action is not Action.APPROVE:
                    bot.lifecycle.act(
                        session, installation_id=installation, action=Action.APPROVE, actor=ADMIN
                    )
                bot.lifecycle.act(
                    session, installation_id=installation, action=action, actor=ADMIN, reason=reason
                )
    with bot.db.session() as session:  # 1,000 audit rows of one installation
        one = ids[("app-001", SCHOOL)]
        for n in range(1000):
            session.add(
                AuditEntry(
                    installation_id=one,
                    actor=("U0ALICE", "sims-id", "system")[n % 3],
                    action=("disable", "enable", "remove_requested")[n % 3],
                    from_state=State.ENABLED.value,
                    to_state=State.DISABLED.value,
                    detail=name(n),
                    reason=REASON if n % 2 else name(n),
                )
            )


def answer(
    dispatched: Client, fake: FakeSlack, text: str, n: int, user: str = ADMIN
) -> dict[str, Any]:
    """`/simsid text`'s reply: the command's HTTP answer, or what it posts to its response_url."""
    reply = dispatched.slash(text, user=user, response_name=f"cmd{n}").json()
    if "Working on it" not in reply.get("text", ""):
        return dict(reply)
    assert fake.wait_for(lambda: any(k == f"cmd{n}" for k, _ in fake.responses), timeout=30)
    with fake.lock:
        return dict([b for k, b in fake.responses if k == f"cmd{n}"][-1])


def every_page(dispatched: Client, fake: FakeSlack, first: dict[str, Any], name: str) -> int:
    """Click Next until there is none; how many pages there were."""
    reply, pages = first, 1
    while (following := buttons(reply).get(ActionId.PAGE)) is not None:
        label = f"{name}-{pages}"
        dispatched.click(ActionId.PAGE, following, ephemeral=True, response_name=label)
        assert fake.wait_for(lambda: any(k == label for k, _ in fake.responses), timeout=30)
        with fake.lock:
            reply = [b for k, b in fake.responses if k == label][-1]
        pages += 1
    return pages


def test_hostile_and_maximal_data_through_every_surface(
    dispatched: Client, fake_slack: FakeSlack, bot: BotApp
) -> None:
    seed(bot)
    assert bot.delivery.wait_idle(timeout=60)
    posts = fake_slack.all_posts()
    assert any("more installs" in p["text"] for p in posts), "a burst summary was posted"

    listings = {
        "apps": 6,  # 120 applications, 20 a page
        "app app-001": 1,
        "customers": 0,
        f"customers {name(7)[:30]}": 0,
        f"customer {SCHOOL}": 0,
        "pending": 0,
        f"audit app-001 {SCHOOL}": 0,
        "audit app-001": 0,
    }
    for n, (text, at_least) in enumerate(listings.items()):
        reply = answer(dispatched, fake_slack, text, n)
        assert reply.get("blocks"), text
        assert every_page(dispatched, fake_slack, reply, f"p{n}") >= max(at_least, 1), text
    assert (
        every_page(dispatched, fake_slack, answer(dispatched, fake_slack, "audit app-001", 90), "a")
        >= 40
    )

    for n, text in enumerate(
        ["secret app-000 site-000", "help", "nonsense <!channel>", f"secret app-002 {SCHOOL}"]
    ):
        reply = answer(dispatched, fake_slack, text, 100 + n)
        assert reply.get("text"), text
    answer(dispatched, fake_slack, "apps", 200, user=OUTSIDER)

    # An install message through each state, by clicks and forms with the longest reason.
    message = install_and_wait(
        dispatched, fake_slack, event_id="evt-hostile", app_id="app-hostile",
        app_name=name(3), site_id="site-hostile", site_name=name(4),
        urn=name(5)[:100], dfe=name(6)[:100],
    )  # fmt: skip
    ts = message["ts"]

    def click(action: str, *, reason: str | None = None) -> None:
        edits = (fake_slack.find_message(CHANNEL, ts) or {})["edits"]
        value = buttons(fake_slack.find_message(CHANNEL, ts) or {})[action]
        if reason is None:
            assert dispatched.click(action, value, message_ts=ts).status == 200
        else:
            assert dispatched.decide(fake_slack, action, value, reason, message_ts=ts).status == 200
        assert fake_slack.wait_for(
            lambda: (fake_slack.find_message(CHANNEL, ts) or {})["edits"] > edits, timeout=30
        ), action

    click(ActionId.APPROVE)
    click(ActionId.DISABLE, reason=REASON)
    click(ActionId.ENABLE)
    click(ActionId.DISABLE, reason=REASON)
    click(ActionId.REMOVE, reason=REASON)

    dispatched.open_home(user=ADMIN)
    dispatched.open_home(user=OUTSIDER)
    assert fake_slack.wait_for(lambda: fake_slack.home(ADMIN) and fake_slack.home(OUTSIDER))

    # One more, waiting for three days: its reminder is posted in its thread.
    install_and_wait(
        dispatched, fake_slack, event_id="evt-waiting", app_id="app-waiting",
        app_name=name(8), site_id="site-waiting", site_name=name(9),
    )  # fmt: skip
    assert bot.delivery.wait_idle(timeout=60)  # its message posted and recorded
    with bot.db.session() as session:
        session.execute(
            update(Installation)
            .where(col(Installation.site_id) == "site-waiting")
            .values(created_at=datetime.now(UTC) - timedelta(days=3))
        )
    scheduler = Scheduler.for_app(bot)
    assert scheduler.run_digest() is not None
    reminded = scheduler.run_reminders()
    assert bot.delivery.wait_idle(timeout=60)

    assert fake_slack.refusals() == []
    assert reminded > 0, "no reminder was sent"
    with fake_slack.lock:
        sent = [m for m, p in fake_slack.calls if "blocks" in p or "view" in p]
        answered = len(fake_slack.responses)
    assert {"chat.postMessage", "chat.update", "views.open", "views.publish"} <= set(sent)
    assert len(sent) + answered > 100
    with bot.db.read() as session:
        waiting = session.scalars(
            select(Installation).where(Installation.site_id == "site-waiting")
        ).one()
    assert waiting.message_ts is not None
    assert fake_slack.thread_replies(CHANNEL, waiting.message_ts), "the reminder"
