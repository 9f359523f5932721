"""`simsid-bot disable APP SITE --as U… [--reason …] [--until ISO8601]`: Disable from a
script, with an optional maintenance window, through the same path as the modal."""

from __future__ import annotations

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.cli.terminal import safe
from bot.config import Settings
from bot.runtime import StartupError, open_database
from bot.slack.operations import Operations
from store import queries
from store.lifecycle import Action, Lifecycle, is_person
from store.models import utcnow


def parse_until(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """--until as an aware time (a time without an offset is in SIMSID_TIMEZONE), in the
    future; StartupError (exit 2) otherwise."""
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        raise StartupError(
            f"--until: not an ISO 8601 date and time ({safe(text[:40])}), "
            "such as 2026-12-08T06:00 or 2026-12-08T06:00+00:00"
        ) from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=tz)
    if until <= now:
        raise StartupError("--until: must be in the future")
    return until


def cmd_disable(settings: Settings, args: argparse.Namespace) -> int:
    """Disable one installation as `--as`, until `--until` if given."""
    if not is_person(args.actor):
        raise StartupError("--as: must be a Slack user id such as U0123ABCD")
    until = None if args.until is None else parse_until(args.until, settings.tz, utcnow())
    db = open_database(settings)
    with db.read() as session:
        apps = queries.match_apps(session, args.app, exact_only=True)
        if len(apps) != 1:
            raise StartupError(f"APP: no single application is {safe(args.app[:80])}")
        sites = [
            s
            for s in queries.match_sites(session, args.site)
            if args.site.strip() in (s.id, s.urn, s.dfe_number)
        ]
        if len(sites) != 1:
            raise StartupError(
                f"SITE: no single site has the id, URN or DfE number {safe(args.site[:80])}"
            )
        info = queries.find_installation(session, apps[0].id, sites[0].id)
    if info is None:
        raise StartupError(f"{safe(apps[0].name)} is not installed at {safe(sites[0].name)}")
    lifecycle = Lifecycle(
        upstream=bool(settings.simsid_upstream_url),
        remove_approvals=settings.simsid_remove_approvals,
        default_channel=settings.simsid_default_channel,
    )
    operations = Operations(db=db, lifecycle=lifecycle, tz=settings.tz)
    applied, reply = operations.act(
        installation_id=info.id,
        version=info.version,
        action=Action.DISABLE,
        actor=args.actor,
        reason=args.reason,
        until=until,
    )
    print(safe(reply.text))
    return 0 if applied else 1
