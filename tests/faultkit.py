"""Helpers shared by the fault, load and hostile-input tests (not tests themselves)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.sandbox.fake_slack import FakeSlack
from store.db import Database
from store.lifecycle import TRANSITIONS, Action, allowed_actions
from store.models import AuditEntry, Installation, State
from tests import harness

# The shared Slack helpers live in tests/harness.py; imported here too so that tests
# importing them from faultkit keep working.
from tests.harness import Client, buttons, install_and_wait, wait_until  # noqa: F401

# Audit actions that are Slack-side moves through the diagram of docs/lifecycle.md.
MOVES = {a.value for a in Action}


def response_texts(fs: FakeSlack, name: str) -> list[str]:
    """Everything posted to the response_url called `name`, as JSON text."""
    with fs.lock:
        return [json.dumps(body) for n, body in fs.responses if n == name]


def client_for(url: str, fs: FakeSlack) -> Client:
    return Client(url, response_url_base=fs.response_url("x").rsplit("/", 1)[0])


def db_upgrade(env: dict[str, str]) -> None:
    """`simsid-bot db upgrade` with this environment (PostgreSQL needs it before serve)."""
    done = subprocess.run(
        [*harness.bot_command(), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def assert_valid_audit_trail(db: Database, installation_id: int) -> list[AuditEntry]:
    """Replaying the installation's audit rows walks the lifecycle diagram, and ends in
    the state the installation has now. Returns the rows."""
    with db.read() as session:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.installation_id == installation_id)
                .order_by(AuditEntry.id)  # type: ignore[arg-type]
            )
        )
        inst = session.get(Installation, installation_id)
    assert inst is not None
    state: State | None = None
    for row in rows:
        if row.action in ("installed", "reinstalled"):
            assert row.to_state == State.PENDING.value
            state = State.PENDING
        elif row.action in MOVES:
            assert state is not None, f"{row.action} before any install"
            assert row.from_state == state.value, (row.id, row.action, row.from_state, state)
            target = TRANSITIONS[Action(row.action)].get(state)
            assert target is not None, f"{row.action} from {state} is not in the diagram"
            assert row.to_state == target.value, (row.id, row.action, row.to_state)
            state = target
        elif row.to_state is not None:  # auto_enabled, uninstalled: moves by SIMS ID
            state = State(row.to_state)
    assert state == inst.state, (installation_id, state, inst.state)
    return rows


def message_shows(message: dict[str, Any], state: State) -> bool:
    """True when a channel message offers exactly the buttons valid in `state`."""
    from bot.slack.ids import INSTALLATION_ACTIONS

    by_action = {a: aid for aid, a in INSTALLATION_ACTIONS.items()}
    expected = {by_action[a].value for a in allowed_actions(state)}
    return set(buttons(message)) == expected


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def without_plain_text(payload: Any) -> Any:
    """`payload` with its plain_text objects' text blanked: Slack shows plain text exactly
    as sent and parses no mention or link in it, so only the rest must be escaped (and
    plain text must not be: "Tom &amp; Jerry" would read so)."""
    if isinstance(payload, dict):
        if payload.get("type") == "plain_text":
            return {**payload, "text": ""}
        return {k: without_plain_text(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [without_plain_text(v) for v in payload]
    return payload
