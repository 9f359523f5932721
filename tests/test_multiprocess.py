"""Three `serve` processes on one PostgreSQL database, many admins clicking at once.

Clicks on the same installations arrive at different processes at the same moment,
often carrying a version someone else has already moved past. Whatever the
interleaving, each installation's audit trail must be a valid walk of the lifecycle
diagram with nothing applied twice, and each install message, posted once, must end
showing the true state with only the buttons valid in it.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from bot.slack.views.text import state_label
from store.db import Database
from store.models import AuditEntry, Installation
from tests import faultkit, harness, pgtools
from tests.conftest import TEST_KEY
from tests.faultkit import client_for, message_shows
from tests.harness import ADMIN, CHANNEL, OTHER_ADMIN, OUTSIDER, ServerProcess, buttons

PROCESSES = 3
INSTALLATIONS = 6  # below the burst threshold: each gets a message of its own
CLICKERS = 8
CLICKS_EACH = 15
# Direct admins and a member of the SADMINS user group, who each process looks up in Slack.
ADMINS = (ADMIN, OTHER_ADMIN, "UADMIN3", "UADMIN4")
_SITE = re.compile(r"\*School (\d+)\*")


def _site_of(message: dict) -> str:
    found = _SITE.search(json.dumps(message["blocks"]))
    assert found, message["text"]
    return found[1]


@pytest.mark.slow
@pytest.mark.postgres
def test_three_processes_many_concurrent_clicks(fake_slack: FakeSlack, tmp_path: Path) -> None:
    with pgtools.fresh_database("simsid_mp", migrated=False) as url:
        env = harness.server_env(
            fake_slack.api_url, url, TEST_KEY, SIMSID_ADMINS="UADMIN1,UADMIN3,UADMIN4,SADMINS"
        )
        faultkit.db_upgrade(env)
        servers = [
            ServerProcess(env, "--no-scheduler", log_path=tmp_path / f"serve{i}.log")
            for i in range(PROCESSES)
        ]
        db = Database(url)
        try:
            clients = [client_for(s.url, fake_slack) for s in servers]
            for n in range(INSTALLATIONS):
                answer = clients[n % PROCESSES].install(
                    event_id=f"evt_mp_{n}", site_id=f"site-{n}", site_name=f"School {n}"
                )
                assert answer.status == 202
            assert fake_slack.wait_for(
                lambda: len(fake_slack.channel_messages(CHANNEL)) == INSTALLATIONS, timeout=20
            )
            ts_of = {_site_of(m): m["ts"] for m in fake_slack.channel_messages(CHANNEL)}
            assert len(ts_of) == INSTALLATIONS

            statuses: list[int] = []
            form_refusals: list[str] = []
            lock = threading.Lock()
            start = threading.Barrier(CLICKERS)

            def clicker(k: int) -> None:
                rng = random.Random(k)
                user = ADMINS[k % len(ADMINS)]
                start.wait(10)
                for i in range(CLICKS_EACH):
                    site = str(rng.randrange(INSTALLATIONS))
                    message = fake_slack.find_message(CHANNEL, ts_of[site])
                    assert message is not None
                    offered = buttons(message)
                    if not offered:
                        continue  # removed: nothing left to click
                    # Remove ends the story, so it is rare; the rest move back and forth.
                    choices = [a for a in offered if a != ActionId.REMOVE] or list(offered)
                    if ActionId.REMOVE in offered and rng.random() < 0.05:
                        choices = [ActionId.REMOVE]
                    action = rng.choice(choices)
                    client = clients[rng.randrange(PROCESSES)]
                    if action in (ActionId.DISABLE, ActionId.REMOVE):
                        # Pressed, then the form asking why sent: refused in the form.
                        answer = client.submit_reason(action, offered[action], user=user)
                        if answer.body.strip():
                            with lock:
                                form_refusals.append(json.dumps(answer.json()))
                    else:
                        answer = client.click(
                            action,
                            offered[action],
                            user=user,
                            message_ts=ts_of[site],
                            response_name=f"mp-{k}-{i}",
                        )
                    with lock:
                        statuses.append(answer.status)

            threads = [threading.Thread(target=clicker, args=(k,)) for k in range(CLICKERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert statuses and set(statuses) == {200}

            # A click is acked first and applied just after, so wait until every click
            # has either changed something or been refused. A winner's message updates
            # itself and it hears nothing; every loser is told privately what happened.
            def refusals() -> list[str]:
                with fake_slack.lock:
                    told = [json.dumps(b) for n, b in fake_slack.responses if n.startswith("mp-")]
                with lock:
                    return told + form_refusals

            def moves() -> int:
                with db.read() as session:
                    actions = session.scalars(select(AuditEntry.action))
                    return sum(1 for a in actions if a in faultkit.MOVES)

            assert harness.wait_until(
                lambda: len(refusals()) + moves() == len(statuses), timeout=30
            ), (len(refusals()), moves(), len(statuses))
            assert all("Already" in r or "not possible" in r for r in refusals())
            assert moves() > INSTALLATIONS, "the clicks must have changed things"

            # A non-admin's clicks on the same buttons change nothing, whichever process.
            with db.read() as session:
                before = {i.id: i.version for i in session.scalars(select(Installation))}
            message = fake_slack.find_message(CHANNEL, ts_of["0"])
            assert message is not None
            outsider_clicks = 0
            for action, value in buttons(message).items():
                for n, client in enumerate(clients):
                    name = f"outsider-{action}-{n}"
                    client.click(action, value, user=OUTSIDER, response_name=name)
                    outsider_clicks += 1
            assert fake_slack.wait_for(
                lambda: (
                    len([n for n, _ in fake_slack.responses if n.startswith("outsider-")])
                    == outsider_clicks
                )
            )

            with fake_slack.lock:
                told = [json.dumps(b) for n, b in fake_slack.responses if n.startswith("outsider-")]
            assert all("Only SIMS ID admins" in t for t in told)
            with db.read() as session:
                installations = list(session.scalars(select(Installation)))
            assert {i.id: i.version for i in installations} == before
            for inst in installations:
                assert inst.id is not None
                rows = faultkit.assert_valid_audit_trail(db, inst.id)
                applied = [r for r in rows if r.action in faultkit.MOVES]
                # One version step per change: nothing applied twice, nothing unrecorded.
                assert inst.version == 1 + len(applied)

            def all_true() -> bool:
                for inst in installations:
                    shown = fake_slack.find_message(CHANNEL, ts_of[inst.site_id.split("-")[1]])
                    if shown is None or not message_shows(shown, inst.state):
                        return False
                    if state_label(inst.state) not in json.dumps(shown["blocks"]):
                        return False
                return True

            assert harness.wait_until(all_true, timeout=30, interval=0.5)
            # Posted once each: no process posted a second message for an installation.
            posted = Counter(_site_of(m) for m in fake_slack.channel_messages(CHANNEL))
            assert posted == Counter({str(n): 1 for n in range(INSTALLATIONS)})
        finally:
            db.dispose()
            codes = [s.terminate() for s in servers]
        assert codes == [0] * PROCESSES
        for i in range(PROCESSES):
            assert "Traceback" not in faultkit.read_log(tmp_path / f"serve{i}.log")
