"""What the page can ask for: its state, a command, a click, an install. Checked, then relayed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.sandbox.relay import BotResponse, Click, Relay
from bot.sandbox.timeline import Timeline, message_payload
from bot.sandbox.workspace import CHANNEL_NAMES, EXAMPLE_APPS, PEOPLE
from store import queries
from store.db import Database, DatabaseUnavailable

Json = dict[str, Any]
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,20}")
_COMMAND = re.compile(r"/simsid(?:\s+(.*))?", re.DOTALL)
TEXT_MAX = 4000  # Slack's own limit on what one can type into a slash command
FIELD_MAX = 500
LONG_POLL_MAX_SECONDS = 25.0


class BadRequest(ValueError):
    """The page asked for something that cannot be; the message says what."""


def _text(data: Json, key: str, *, required: bool = True, limit: int = FIELD_MAX) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be text")
    if len(value) > limit:
        raise BadRequest(f"{key} is longer than {limit} characters")
    return value


def _user(data: Json) -> str:
    user = _text(data, "user")
    if user not in {p.id for p in PEOPLE}:
        raise BadRequest(f"unknown user {user!r:.40}")
    return user


def _channel(data: Json) -> str:
    channel = _text(data, "channel")
    if not _CHANNEL.fullmatch(channel):
        raise BadRequest("channel must be a channel id such as C0INSTALLS")
    return channel


def _index(data: Json, key: str) -> int:
    value = data.get(key)
    if type(value) is not int or value < 0:
        raise BadRequest(f"{key} must be a whole number")
    return value


def _outcome(answer: BotResponse) -> Json:
    """The bot's answer for the page: its status, and its error when it gave one."""
    result: Json = {"ok": answer.ok, "status": answer.status}
    if answer.refused:
        result["error"] = "Slack would refuse the bot's answer: " + "; ".join(answer.refused)
    elif not answer.ok:
        error = answer.body.get("error") if isinstance(answer.body, dict) else None
        result["error"] = f"the bot answered {answer.status}: {error or answer.raw[:300]}"
    return result


@dataclass
class SandboxApi:
    """Turns the page's requests into Slack's and SIMS ID's, and reads back what changed."""

    timeline: Timeline
    relay: Relay
    db: Database

    # -- reading -------------------------------------------------------------

    def state(self, user: str, since: int | None, wait: float) -> Json:
        """The page's state for `user`; with `since`, wait first for something newer."""
        if user not in {p.id for p in PEOPLE}:
            raise BadRequest(f"unknown user {user!r:.40}")
        if since is not None:
            self.timeline.wait(since, min(max(wait, 0.0), LONG_POLL_MAX_SECONDS))
        state = self.timeline.snapshot(user, CHANNEL_NAMES)
        state["people"] = [{"id": p.id, "name": p.name, "admin": p.admin} for p in PEOPLE]
        state["apps"] = self._apps()
        return state

    def _apps(self) -> list[Json]:
        try:
            with self.db.read() as session:
                apps = queries.list_applications(session)
            return [{"id": a.id, "name": a.name} for a in apps]
        except DatabaseUnavailable:
            return [{"id": a.id, "name": a.name} for a in EXAMPLE_APPS]

    # -- acting --------------------------------------------------------------

    def command(self, data: Json) -> Json:
        """A line typed into the message box; only `/simsid …` reaches the bot."""
        user, channel = _user(data), _channel(data)
        line = _text(data, "text", limit=TEXT_MAX).strip()
        match = _COMMAND.fullmatch(line)
        if match is None:
            raise BadRequest("the bot only hears its slash command: type /simsid help")
        reply = self.timeline.open_reply(channel=channel, user=user, origin=line)
        answer = self.relay.command(
            user=user,
            channel=channel,
            channel_name=CHANNEL_NAMES.get(channel, channel.lower()),
            text=(match.group(1) or "").strip(),
            response_url=self.timeline.response_url(channel=channel, user=user, ephemeral=reply.id),
        )
        self.timeline.log_request(f"/slack/events {line[:60]}", answer.status, answer.raw[:200])
        if answer.ok:
            self.timeline.fill_reply(reply.id, answer.body)
        return _outcome(answer)

    def click(self, data: Json) -> Json:
        """A button press, sent with the value and ids the message itself holds."""
        if data.get("surface") == "home":
            return self._home_click(data)
        user, channel = _user(data), _channel(data)
        ts = _text(data, "ts", limit=40)
        is_ephemeral = data.get("ephemeral") is True
        block_index, element_index = _index(data, "block"), _index(data, "element")
        if is_ephemeral:
            reply = self.timeline.ephemeral(ts)
            if reply is None or reply.user != user or reply.channel != channel:
                raise BadRequest("that private message is gone")
            blocks, message = reply.blocks, None
        else:
            post = self.timeline.find_post(channel, ts)
            if post is None:
                raise BadRequest("that message is gone")
            blocks, message = post["blocks"], message_payload(post)
        block_id, button = _button(blocks, block_index, element_index)
        response_url = self.timeline.response_url(
            channel=channel,
            user=user,
            message_ts=None if is_ephemeral else ts,
            ephemeral=ts if is_ephemeral else None,
        )
        click = Click(user, channel, ts, is_ephemeral, block_id, button, message)
        name = CHANNEL_NAMES.get(channel, channel.lower())
        answer = self.relay.click(click, channel_name=name, response_url=response_url)
        label = (button.get("text") or {}).get("text", "")
        self.timeline.log_request(f"/slack/events button {label}", answer.status, answer.raw[:200])
        return _outcome(answer)

    def _home_click(self, data: Json) -> Json:
        """A button on the person's Home tab, as the bot last published it."""
        user = _user(data)
        home = self.timeline.home(user)
        if home is None:
            raise BadRequest("the Home tab has not been opened")
        block_id, button = _button(
            home.get("blocks") or [], _index(data, "block"), _index(data, "element")
        )
        answer = self.relay.home_click(
            user=user, view_id=str(home.get("id") or ""), block_id=block_id, button=button
        )
        label = (button.get("text") or {}).get("text", "")
        self.timeline.log_request(
            f"/slack/events Home button {label}", answer.status, answer.raw[:200]
        )
        return _outcome(answer)

    def open_home(self, data: Json) -> Json:
        """The person opened the bot's Home tab: Slack sends app_home_opened."""
        user = _user(data)
        answer = self.relay.home_opened(user=user)
        self.timeline.log_request("/slack/events app_home_opened", answer.status, answer.raw[:200])
        return _outcome(answer)

    def submit(self, data: Json) -> Json:
        """The person sent the modal open in front of them, with what they typed."""
        user, view_id = _user(data), _text(data, "view_id", limit=40)
        typed = _text(data, "text", required=False, limit=TEXT_MAX)
        view = self.timeline.modal(view_id, user)
        if view is None:
            raise BadRequest("that form is closed")
        until = _text(data, "until", required=False, limit=20)
        inputs = [b for b in view.get("blocks") or [] if b.get("type") == "input"]
        answer = self.relay.submit_view(
            user=user,
            view=view,
            typed={
                str(b.get("block_id")): until
                if (b.get("element") or {}).get("type") == "datetimepicker"
                else typed
                for b in inputs
            },
        )
        self.timeline.log_request("/slack/events view_submission", answer.status, answer.raw[:200])
        if answer.ok:
            self.timeline.modal_answered(view_id, answer.body)
        return _outcome(answer)

    def close(self, data: Json) -> Json:
        """The person pressed the modal's Cancel (Slack tells the bot nothing)."""
        self.timeline.close_modal(_text(data, "view_id", limit=40), _user(data))
        return {"ok": True, "status": 200}

    def install(self, data: Json) -> Json:
        """SIMS ID telling the bot a school installed (or uninstalled) an application."""
        kind = _text(data, "type")
        if kind not in ("installation.created", "installation.removed"):
            raise BadRequest("type must be installation.created or installation.removed")
        site = {"id": _text(data, "site_id"), "name": _text(data, "site_name")}
        for key, field in (("urn", "urn"), ("dfe_number", "dfe_number")):
            value = _text(data, field, required=False).strip()
            if value:
                site[key] = value  # SIMS ID leaves out labels a school does not have
        answer = self.relay.install(
            event_type=kind,
            app_id=_text(data, "app_id"),
            app_name=_text(data, "app_name"),
            site=site,
        )
        self.timeline.log_request(f"/simsid/events {kind}", answer.status, answer.raw[:200])
        return _outcome(answer)


def _button(blocks: list[Any], block_index: int, element_index: int) -> tuple[str, Json]:
    """(block_id, button) of the button at that place in the message."""
    try:
        block = blocks[block_index]
        element = block.get("elements", [])[element_index]
    except (IndexError, AttributeError):
        raise BadRequest("there is no such button in that message") from None
    if not isinstance(element, dict) or element.get("type") != "button":
        raise BadRequest("there is no such button in that message")
    # Slack names blocks the app left unnamed; any stable id will do here.
    return str(block.get("block_id") or f"sandbox-block-{block_index}"), element
