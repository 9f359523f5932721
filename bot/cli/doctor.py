"""`simsid-bot doctor`: checks a real setup, one line per check, each ✗ with its fix.

Read-only: it opens the database without migrating it or writing the vault canary, asks
Slack only methods that read (auth.test, conversations.info, users.info,
usergroups.users.list), and never sends a decision upstream. SIMSID_UPSTREAM_URL gets an
unsigned GET, which a receiver cannot take for a decision; whether the receiver accepts
the secret shows in the decisions it has already refused, which doctor counts.
"""

from __future__ import annotations

import http.client
import json
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.cli.terminal import safe
from bot.config import Settings
from bot.reconcile import snapshot
from bot.slack.client import granted_scopes, make_client
from store import decisions, migrate, queries, vault
from store.db import Database, DatabaseUnavailable
from store.keyring_check import verify_keys

# manifest.yml's oauth_config.scopes.bot: the installed command has no manifest to read,
# and tests/test_doctor.py fails when the two disagree.
REQUIRED_SCOPES = frozenset(
    {"commands", "chat:write", "chat:write.public", "usergroups:read"}
    | {"channels:read", "groups:read", "users:read"}
)
# Asked for by manifest.yml, but the bot works without them: what each one adds.
OPTIONAL_SCOPES = {
    "users:read.email": "decisions go upstream and to the audit log with the decider's email",
}
UPSTREAM_TIMEOUT_SECONDS = 10

_TOKEN_REFUSED = frozenset(
    {"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive"}
)
_REINSTALL = (
    "install the app again from manifest.yml (OAuth & Permissions → Reinstall) and set "
    "SLACK_BOT_TOKEN to the Bot User OAuth Token it shows"
)


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it holds, and how to fix it."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


def run_doctor(settings: Settings, *, as_json: bool, out: IO[str] = sys.stdout) -> int:
    """Run every check and print them; 0 when all hold, 1 otherwise."""
    # Alembic says at INFO that it looked at the schema: noise beside the report.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    checks = list(diagnose(settings))
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None:  # a fix's → or ⋯ must not crash a terminal without them
        reconfigure(errors="backslashreplace")
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2), file=out)
    else:
        yes, no = _marks(out)
        for c in checks:
            line = f"{yes if c.ok else no} {c.check}: {c.detail}"
            print(safe(line + (f" Fix: {c.fix}" if c.fix else "")), file=out)
        failed = sum(not c.ok for c in checks)
        print(f"{failed} of {len(checks)} checks failed" if failed else "all checks hold", file=out)
    return 0 if all(c.ok for c in checks) else 1


def _marks(out: IO[str]) -> tuple[str, str]:
    """✓ and ✗, or OK and FAIL where the terminal cannot show them."""
    try:
        "✓✗".encode(getattr(out, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "OK  ", "FAIL"
    return "✓", "✗"


def diagnose(settings: Settings) -> Iterator[Check]:
    """Every check, in the order an operator would fix them."""
    yield _settings(settings)
    db, found = _database(settings)
    yield found
    app_channels: dict[str, list[str]] = {}
    refused: tuple[int, str] | None = None
    if db is not None:
        try:
            yield _vault(settings, db)
            with db.read() as session:
                for app in queries.list_applications(session):
                    if app.channel:
                        app_channels.setdefault(app.channel, []).append(f"application {app.name}")
                count, since = decisions.refused(session)
                refused = (count, since.isoformat(timespec="minutes") if since else "")
        except (DBAPIError, DatabaseUnavailable) as exc:
            yield Check("database", False, f"stopped answering ({_first_line(exc)}).", _DB_FIX)
        finally:
            db.dispose()
    yield from _slack(settings, app_channels)
    yield _webhook(settings)
    yield _upstream(settings, refused)
    yield _reconcile(settings)


# -- settings, database, vault ------------------------------------------------------


def _settings(settings: Settings) -> Check:
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        return Check(
            "settings",
            False,
            "SLACK_SIGNING_SECRET is not set: `serve` cannot verify Slack's requests.",
            "set SLACK_SIGNING_SECRET (the app's Basic Information → Signing Secret), "
            "or SLACK_APP_TOKEN to run `serve --socket-mode`.",
        )
    mode = "HTTP" if settings.slack_signing_secret is not None else "Socket Mode"
    return Check("settings", True, f"valid (Slack over {mode}).")


def _database(settings: Settings) -> tuple[Database | None, Check]:
    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    upgrade = "run `simsid-bot db upgrade` (for SQLite, `serve` also does it on start)."
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
        if not path.exists():
            return None, Check("database", False, f"{shown}: no such file yet.", upgrade)
    db = Database(settings.database_url)
    try:
        current, head = migrate.revisions(db)
        if current != head:
            migrate.is_current(db)  # raises UnknownRevision when the database is ahead
            behind = f"at migration {current}" if current else "empty"
            db.dispose()
            return None, Check("database", False, f"{shown}: {behind}, not {head}.", upgrade)
    except migrate.UnknownRevision:
        db.dispose()
        return None, Check(
            "database",
            False,
            f"{shown}: migrated by a newer release than this one.",
            "run the release that migrated it, or restore a backup.",
        )
    except (DBAPIError, DatabaseUnavailable) as exc:
        db.dispose()
        return None, Check(
            "database", False, f"{shown}: cannot be opened ({_first_line(exc)}).", _DB_FIX
        )
    return db, Check("database", True, f"{shown}: reachable, at migration {head} (the newest).")


_DB_FIX = "check DATABASE_URL and that the database server runs and lets this host in."


def _first_line(exc: Exception) -> str:
    """The driver's own words ("Connection refused", "file is not a database")."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _vault(settings: Settings, db: Database) -> Check:
    vault.configure(settings.encryption_keys())
    try:
        with db.read() as session:
            opened = verify_keys(session)
    except vault.VaultError:
        return Check(
            "vault",
            False,
            "SIMSID_ENCRYPTION_KEYS cannot decrypt the secrets this database holds.",
            "set SIMSID_ENCRYPTION_KEYS to the key(s) it was written with (a new key goes "
            "first, the old ones stay after it until `simsid-bot keys rotate`).",
        )
    if not opened:
        return Check("vault", True, "nothing encrypted yet; the first key will encrypt.")
    return Check("vault", True, "SIMSID_ENCRYPTION_KEYS opens the stored secrets.")


# -- Slack ----------------------------------------------------------------------------


def _slack(settings: Settings, app_channels: dict[str, list[str]]) -> Iterator[Check]:
    client = make_client(settings)
    api = urlsplit(settings.slack_api_url).hostname
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = _error(exc)
        fix = _REINSTALL if error in _TOKEN_REFUSED else "check SLACK_API_URL and SLACK_BOT_TOKEN."
        yield Check(
            "slack",
            False,
            f"auth.test: Slack refused SLACK_BOT_TOKEN ({error}); "
            "channels, scopes and admins not checked.",
            fix,
        )
        return
    except (SlackClientError, OSError) as exc:
        yield Check(
            "slack",
            False,
            f"auth.test: cannot reach {api} ({type(exc).__name__}); "
            "channels, scopes and admins not checked.",
            "check SLACK_API_URL and this host's outbound HTTPS.",
        )
        return
    bot = str(auth.get("user") or auth.get("user_id") or "the bot")
    yield Check(
        "slack",
        True,
        f"auth.test: @{bot} ({auth.get('user_id')}) in {auth.get('team')} ({auth.get('team_id')}).",
    )
    granted = granted_scopes(auth)
    yield _scopes(granted)
    channels: dict[str, list[str]] = {}
    if settings.simsid_default_channel:
        channels[settings.simsid_default_channel] = ["SIMSID_DEFAULT_CHANNEL"]
    for channel, users in app_channels.items():
        channels.setdefault(channel, []).extend(users)
    for channel, users in channels.items():
        yield _channel(client, channel, users, bot, granted)
    for admin in settings.simsid_admins:
        yield _admin_group(client, admin) if admin.startswith("S") else _admin(client, admin)


def _error(exc: SlackApiError) -> str:
    response: SlackResponse | None = exc.response
    error = response.get("error") if response is not None else None
    return str(error or "an error")[:120]  # not a Web API: its page is no answer to show


def _scopes(granted: frozenset[str] | None) -> Check:
    if granted is None:
        return Check(
            "scopes",
            False,
            "Slack's answer to auth.test named no scopes (no x-oauth-scopes header).",
            "check SLACK_API_URL points at Slack's Web API.",
        )
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return Check(
            "scopes",
            False,
            f"the token lacks {', '.join(missing)}.",
            "add them under OAuth & Permissions (as manifest.yml lists them), then "
            "reinstall the app; the Bot User OAuth Token stays the same.",
        )
    lacking = [f"{scope} ({why})" for scope, why in OPTIONAL_SCOPES.items() if scope not in granted]
    if lacking:
        return Check(
            "scopes",
            True,
            f"granted {len(granted)}, covering the required ones; optional and not granted: "
            f"{'; '.join(lacking)}. Until then actor_email is null.",
        )
    return Check("scopes", True, f"granted {len(granted)}, covering manifest.yml's.")


def _channel(
    client: WebClient, channel: str, users: list[str], bot: str, granted: frozenset[str] | None
) -> Check:
    name = f"channel {channel}"
    used = f"(for {', '.join(users)})"
    elsewhere = (
        "or give it another channel (`simsid-bot apps edit APP --channel C…`, "
        "SIMSID_DEFAULT_CHANNEL for the default)."
    )
    try:
        info: dict[str, Any] = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        error = _error(exc)
        if error == "channel_not_found":
            return Check(
                name,
                False,
                f"not found {used}: no such channel, or a private one @{bot} is not in.",
                f"check the id (channel details, at the bottom); in a private channel, "
                f"`/invite @{bot}`; {elsewhere}",
            )
        return Check(name, False, f"conversations.info answered {error} {used}.", _fix_for(error))
    except (SlackClientError, OSError) as exc:
        return Check(name, False, f"not checked {used}: {type(exc).__name__}.", "try again.")
    label = f"#{info.get('name') or channel} {used}"
    if info.get("is_archived"):
        return Check(name, False, f"{label} is archived.", f"unarchive it, {elsewhere}")
    if not info.get("is_member", True):
        public = not info.get("is_private") and granted is not None
        if public and "chat:write.public" in (granted or frozenset()):
            return Check(name, True, f"{label}: posts there without joining (chat:write.public).")
        return Check(
            name, False, f"{label}: @{bot} is not in it.", f"`/invite @{bot}` there, {elsewhere}"
        )
    return Check(name, True, f"{label}: exists, not archived, @{bot} is in it.")


def _admin(client: WebClient, user: str) -> Check:
    name = f"admin {user}"
    fix = (
        "check SIMSID_ADMINS: a person's id is in their profile, ⋯ → Copy member ID "
        "(U…; a user group's S… id is in its URL)."
    )
    try:
        found: dict[str, Any] = client.users_info(user=user).get("user") or {}
    except SlackApiError as exc:
        error = _error(exc)
        if error == "user_not_found":
            return Check(name, False, "no such user in this workspace.", fix)
        return Check(name, False, f"users.info answered {error}.", _fix_for(error))
    except (SlackClientError, OSError) as exc:
        return Check(name, False, f"not checked: {type(exc).__name__}.", "try again.")
    shown = f"@{found.get('name') or user}"
    if found.get("deleted"):
        return Check(name, False, f"{shown} is deactivated.", "remove them from SIMSID_ADMINS.")
    return Check(name, True, f"{shown} exists.")


def _admin_group(client: WebClient, group: str) -> Check:
    name = f"admin group {group}"
    try:
        users = client.usergroups_users_list(usergroup=group).get("users") or []
    except SlackApiError as exc:
        error = _error(exc)
        if error == "no_such_subteam":
            return Check(
                name,
                False,
                "no such user group in this workspace.",
                "check SIMSID_ADMINS: a user group's id (S…) is in its URL.",
            )
        return Check(name, False, f"usergroups.users.list answered {error}.", _fix_for(error))
    except (SlackClientError, OSError) as exc:
        return Check(name, False, f"not checked: {type(exc).__name__}.", "try again.")
    if not users:
        return Check(
            name,
            False,
            "has no members: it makes nobody an admin.",
            "add people to the group, or take it out of SIMSID_ADMINS.",
        )
    return Check(name, True, f"{len(users)} member{'s' if len(users) != 1 else ''}.")


def _fix_for(error: str) -> str:
    if error == "missing_scope":
        return "the token lacks a scope manifest.yml asks for: see the scopes line."
    if error in _TOKEN_REFUSED:
        return _REINSTALL
    return "see Slack's documentation of that error."


# -- SIMS ID: webhook, upstream, reconcile ------------------------------------------


def _webhook(settings: Settings) -> Check:
    count = len(settings.simsid_webhook_secret)
    if not count:
        return Check(
            "webhook",
            False,
            "SIMSID_WEBHOOK_SECRET is not set: every install event is refused (503).",
            "set it (`openssl rand -hex 32`) and give SIMS ID the same value.",
        )
    # The bot's public address is not a setting: only the secret can be checked here.
    return Check(
        "webhook",
        True,
        f"{count} secret{'s' if count > 1 else ''} set; SIMS ID must sign with one "
        "(POST /simsid/events).",
    )


def _shown(url: str) -> str:
    """A URL without its user, password and query string, any of which may hold a secret."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer here: delivery does not follow one either."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _upstream(settings: Settings, refused: tuple[int, str] | None) -> Check:
    url = settings.simsid_upstream_url
    if not url:
        return Check("upstream", True, "SIMSID_UPSTREAM_URL not set: decisions stay in Slack.")
    shown = _shown(url)
    # A GET with no body and no signature: nothing a receiver could take for a decision.
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "simsid-bot"})  # noqa: S310  (the operator's URL)
    try:
        with urllib.request.build_opener(_NoRedirect()).open(
            request, timeout=UPSTREAM_TIMEOUT_SECONDS
        ) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(
            "upstream",
            False,
            f"{shown} does not answer ({type(exc).__name__}: {reason}).",
            "check SIMSID_UPSTREAM_URL and that the receiver runs; decisions wait meanwhile.",
        )
    if 300 <= status < 400:
        return Check(
            "upstream",
            False,
            f"{shown} redirects (HTTP {status}); decisions are not sent on.",
            "set SIMSID_UPSTREAM_URL to the address it redirects to.",
        )
    if status >= 500:
        return Check(
            "upstream",
            False,
            f"{shown} answers HTTP {status}.",
            "the receiver is failing; decisions wait and are retried.",
        )
    if refused and refused[0]:
        return Check(
            "upstream",
            False,
            f"{shown} answers, but refused {refused[0]} decision(s) for good since {refused[1]}.",
            "`simsid-bot outbox` shows each error; HTTP 401 means SIMSID_UPSTREAM_SECRET "
            "differs from the receiver's. Fix it, then `simsid-bot outbox --retry ID`.",
        )
    return Check(
        "upstream",
        True,
        f"{shown} answers (HTTP {status} to a GET; doctor sends no decision, so the secret "
        "shows only when one is refused); no decision refused.",
    )


def _reconcile(settings: Settings) -> Check:
    url = settings.simsid_reconcile_url
    if not url:
        return Check("reconcile", True, "SIMSID_RECONCILE_URL not set: no scheduled reconcile.")
    token = settings.simsid_reconcile_token
    try:
        listed = snapshot.load(url, token=token.get_secret_value() if token else None)
    except snapshot.SnapshotError as exc:
        message = str(exc).removeprefix("SOURCE: ")
        refused = " answered HTTP 401" in message or " answered HTTP 403" in message
        fix = (
            "set SIMSID_RECONCILE_TOKEN to the token SIMS ID issued for this list."
            if refused
            else "check SIMSID_RECONCILE_URL and that SIMS ID's list can be read from here."
        )
        return Check("reconcile", False, f"{message}.", fix)
    return Check("reconcile", True, f"{_shown(url)} lists {len(listed)} installation(s).")
