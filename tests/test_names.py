"""Names as schools and vendors write them: apostrophes without quotes,
terminal control characters, bare links and @here, and "&" in plain text.

Slack decodes `&amp;`, `&lt;` and `&gt;` only in mrkdwn; a `plain_text` object is shown
exactly as sent, so an escaped name there reads "Tom &amp; Jerry".
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.cli.outbox import show_outbox
from bot.sandbox.fake_slack import FakeSlack
from bot.simsid.schema import parse_event
from bot.slack.commands import Unknown, parse
from bot.slack.ids import ActionId
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import Application, Installation
from tests import harness
from tests.conftest import TEST_KEY
from tests.harness import CHANNEL, Client, buttons, install_and_wait

TERMINAL_TRAPS = "\x1b]2;pwned\x07\x1b[2J\x1b[31mRed\x9b1m"


def _objects(blocks: Any) -> Iterator[dict[str, Any]]:
    """Every text object anywhere in some blocks."""
    if isinstance(blocks, dict):
        if blocks.get("type") in ("plain_text", "mrkdwn") and "text" in blocks:
            yield blocks
        for value in blocks.values():
            yield from _objects(value)
    elif isinstance(blocks, list):
        for value in blocks:
            yield from _objects(value)


# -- /simsid customer St Mary's Primary ------------------------------------------------


def test_parse_keeps_apostrophes_inside_words() -> None:
    assert parse("customer St Mary's Primary").words == ("St", "Mary's", "Primary")
    assert parse("customer St Mary's and St John's").rest == "St Mary's and St John's"
    assert parse('customer "St Mary\'s Primary"').words == ("St Mary's Primary",)
    assert parse("customer 'Oak Hill'").words == ("Oak Hill",)
    assert parse("customer O'Neill's").words == ("O'Neill's",)
    # Slack's clients turn typed quotes into typographic ones.
    smart = "customer \u201cSt Mary\u2019s Primary\u201d"
    assert parse(smart).words == ("St Mary\u2019s Primary",)


def test_unquoted_names_with_apostrophes_are_found(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    install_and_wait(
        dispatched, fake_slack, event_id="evt_sm", site_id="site-sm", site_name="St Mary's Primary",
        urn="100001",
    )  # fmt: skip
    reply = dispatched.slash("customer St Mary's Primary").json()
    text = json.dumps(reply)
    assert "St Mary's Primary" in text and "No site" not in text, text
    assert "100001" in text
    # Two words of the app, the school's name unquoted: split where both match.
    message = fake_slack.channel_messages(CHANNEL)[-1]
    approve = buttons(message)[ActionId.APPROVE]
    dispatched.click(ActionId.APPROVE, approve, message_ts=message["ts"])
    assert fake_slack.wait_for(lambda: fake_slack.channel_messages(CHANNEL)[-1]["edits"] >= 1)
    dispatched.slash("secret Homework Hub St Mary's Primary", response_name="sm-secret")
    assert fake_slack.wait_for(lambda: any(n == "sm-secret" for n, _ in fake_slack.responses))
    answer = json.dumps([b for n, b in fake_slack.responses if n == "sm-secret"])
    assert "ck_" in answer


def test_audit_takes_an_application_name_with_spaces_unquoted(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    """`audit Homework Hub` names the application Homework Hub, unquoted, not app
    `Homework` at site `Hub`."""
    install_and_wait(dispatched, fake_slack)  # Homework Hub at Oakfield Primary
    for text in ("audit Homework Hub", "audit homework hub", 'audit "Homework Hub"'):
        assert dispatched.slash(text).json()["text"] == "Audit log of Homework Hub", text
    # A school whose name holds "Hub" does not take the words: they are the app's name.
    install_and_wait(
        dispatched, fake_slack, event_id="evt_hub", site_id="s-hub", site_name="Hub Academy"
    )
    assert dispatched.slash("audit Homework Hub").json()["text"] == "Audit log of Homework Hub"
    # Split where both match, as before; several apps for the words still asks which.
    assert "Oakfield" in dispatched.slash("audit Homework Hub Oakfield").json()["text"]
    install_and_wait(
        dispatched, fake_slack, event_id="evt_hw2", app_id="app-hw2", app_name="Homework Hub 2"
    )
    assert "Audit log" not in dispatched.slash("audit Homework H").json()["text"]


def test_names_with_ampersands_are_found_as_slack_sends_them(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    """Slack sends `&`, `<` and `>` in a command's text as `&amp;`, `&lt;`, `&gt;`: the
    school `St Mary & St John` was "No site matches `St Mary &amp;amp; St John`"."""
    install_and_wait(
        dispatched, fake_slack, event_id="evt_amp", site_id="s-amp", site_name="St Mary & St John",
        app_id="app-tj", app_name="Tom & Jerry <Maths>",
    )  # fmt: skip
    assert parse("customer St Mary &amp; St John").words == ("St", "Mary", "&", "St", "John")
    reply = json.dumps(dispatched.slash("customer St Mary & St John").json())
    assert "No site" not in reply and "Tom &amp; Jerry &lt;Maths&gt;" in reply, reply
    audit = dispatched.slash("audit Tom & Jerry <Maths> St Mary & St John").json()
    assert audit["text"] == "Audit log of Tom &amp; Jerry &lt;Maths&gt; at St Mary &amp; St John"


def test_an_unknown_command_is_quoted_in_one_code_span() -> None:
    """What someone typed is shown as typed: a backtick in an unknown command's word
    ended the code span quoting it, and the rest read as formatting."""
    try:
        parse("x`*bold*`:skull: pending")
    except Unknown as exc:
        said = str(exc)
    assert said.count("`") == 2 and "*bold*" in said, said


def test_a_name_copied_from_slack_finds_its_site(dispatched: Client, fake_slack: FakeSlack) -> None:
    """Formatting characters in a name are shown as lookalikes; pasted back
    into /simsid, the copied name still finds the school."""
    message = install_and_wait(
        dispatched, fake_slack, event_id="evt_cp", site_id="s-cp", site_name="Oak_Hill: *Upper*",
        urn="100003",
    )  # fmt: skip
    shown = next(b for b in message["blocks"] if b["type"] == "section")["text"]["text"]
    copied = shown.strip("*")  # as a person selects it: the bold name
    assert copied != "Oak_Hill: *Upper*" and "Oak" in copied, shown
    reply = json.dumps(dispatched.slash(f"customer {copied}").json())
    assert "No site" not in reply and "100003" in reply, reply


# -- mrkdwn: verbatim; plain text: not escaped -----------------------------------------


def test_names_in_slack_are_verbatim_and_plain_text_is_not_escaped(
    dispatched: Client, fake_slack: FakeSlack
) -> None:
    message = install_and_wait(
        dispatched, fake_slack, event_id="evt_tj", app_id="app-tj", app_name="Tom & Jerry",
        site_id="site-tj", site_name="@here see https://evil.example <b>",
    )  # fmt: skip
    replies = [
        dispatched.slash(text).json()
        for text in ("apps", "app tom", "customers", "customer evil", "pending", "audit tom")
    ]
    for body in [message, *replies]:
        for obj in _objects(body.get("blocks")):
            if obj["type"] == "mrkdwn":
                # Without verbatim Slack links bare URLs and parses @here by itself.
                assert obj.get("verbatim") is True, obj
            else:
                assert "&amp;" not in obj["text"] and "&lt;" not in obj["text"], obj
    header = next(b for b in message["blocks"] if b["type"] == "header")
    assert header["text"]["text"] == "New install: Tom & Jerry"
    mrkdwn = json.dumps(message["blocks"])
    assert "Tom &amp; Jerry" in mrkdwn and "&lt;b&gt;" in mrkdwn


# -- the operator's terminal -----------------------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIMSID_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        SIMSID_ENCRYPTION_KEYS=TEST_KEY,
        SIMSID_DEFAULT_CHANNEL="C0DEFAULT",
    )
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*harness.bot_command(), *args],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _no_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    assert not bad, repr(text)


def test_cli_refuses_control_characters_in_a_name(tmp_path: Path) -> None:
    """A name is one line wherever it is shown: `apps add` refuses control characters as
    the webhook does, naming the argument, without echoing them."""
    for name in (f"Evil{TERMINAL_TRAPS}App", "Oak\nState: Enabled", "Tab\tApp", "C1\x85App"):
        refused = _run(tmp_path, "apps", "add", name, "--id", "app-evil")
        assert refused.returncode == 2, (name, refused.stdout)
        assert "argument name: must not contain control characters" in refused.stderr
        assert "Traceback" not in refused.stderr
        _no_controls(refused.stderr)
    assert "app-evil" not in _run(tmp_path, "apps", "list").stdout


def test_cli_output_carries_no_terminal_control_characters(tmp_path: Path) -> None:
    added = _run(tmp_path, "apps", "add", "Evil App", "--id", "app-evil\x07")
    assert added.returncode == 0, added.stderr
    _no_controls(added.stdout)
    # Names stored before control characters were refused are still shown safely.
    db = Database(_env(tmp_path)["DATABASE_URL"])
    with db.session() as session:
        app = session.get(Application, "app-evil\x07")
        assert app is not None
        app.name = f"Evil{TERMINAL_TRAPS}App"
    db.dispose()
    listed = _run(tmp_path, "apps", "list")
    assert listed.returncode == 0, listed.stderr
    _no_controls(listed.stdout)
    assert "Evil" in listed.stdout and "Red" in listed.stdout  # shown, made harmless


def test_outbox_listing_carries_no_terminal_control_characters(sqlite_db: Database) -> None:
    lifecycle = Lifecycle(upstream=True, default_channel=CHANNEL)
    # The webhook refuses such names now; rows stored before it did may still hold them.
    event = replace(
        parse_event(harness.event_body(event_id="evt_x", app_id="app-x", site_id="site-x")),
        application_name=f"App{TERMINAL_TRAPS}",
        site_name=f"School{TERMINAL_TRAPS}",
    )
    with sqlite_db.session() as session:
        lifecycle.apply_event(session, event)
    with sqlite_db.session() as session:
        installation_id = session.scalars(select(Installation.id)).one()
        lifecycle.act(
            session, installation_id=installation_id, action=Action.APPROVE, actor=harness.ADMIN
        )
    out = io.StringIO()
    assert show_outbox(sqlite_db, retry=None, out=out, err=io.StringIO()) == 0
    _no_controls(out.getvalue())
    assert "School" in out.getvalue()


def test_modals_and_home_are_verbatim_and_plain_text_is_not_escaped() -> None:
    from bot.slack import views
    from bot.slack.ids import ReasonAsk
    from store.models import State
    from store.queries import SiteRef
    from tests.test_views import APP, make_info

    site = SiteRef("s-tj", "Tom & Jerry's <School>", "100002", None)
    info = replace(make_info(State.ENABLED, site=site), app=replace(APP, name="Tom & Jerry"))
    ask = ReasonAsk("disable", info.id, info.version)
    shown = [
        views.disable_modal(info, ask),
        views.remove_modal(info, replace(ask, kind="remove"), two_person=True),
        views.disable_all_modal(site, ReasonAsk("disable_all", site_id="s-tj")),
    ]
    for view in shown:
        for obj in _objects(view):
            if obj["type"] == "mrkdwn":
                assert obj.get("verbatim") is True, obj
            else:
                assert "&amp;" not in obj["text"] and "&lt;" not in obj["text"], obj
        assert "Tom &amp; Jerry" in json.dumps(view)  # in mrkdwn, escaped
