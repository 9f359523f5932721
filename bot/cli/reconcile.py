"""`simsid-bot reconcile SOURCE`: the differences with SIMS ID's list as a table, and --apply."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from bot import urls
from bot.cli.terminal import safe
from bot.config import Settings
from bot.reconcile import snapshot
from bot.reconcile.run import ListClashes, ReconcileResult, reconcile
from bot.runtime import StartupError, open_database
from store.db import DatabaseUnavailable
from store.lifecycle import Lifecycle
from store.reconcile.types import Difference, Kind

NAME_WIDTH = 40
_COLUMNS = ("difference", "application", "site", "the bot", "SIMS ID")


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0: in agreement (or made to agree); 1: differs (dry run); 2: refused or bad input."""
    if args.max_changes < 0:
        raise StartupError("--max-changes: must be 0 or more")
    token = _token_for(settings, args.source, anywhere=args.token)
    try:
        rows = snapshot.load(args.source, token=token)
    except snapshot.SnapshotError as exc:
        print(f"simsid-bot: {exc}", file=sys.stderr)
        fetched = isinstance(exc, snapshot.FetchError) and _is_url(args.source)
        if fetched and token is None and settings.simsid_reconcile_token:
            print(
                "simsid-bot: SIMSID_RECONCILE_TOKEN was not sent: SOURCE is not on "
                "SIMSID_RECONCILE_URL's host (--token sends it there too)",
                file=sys.stderr,
            )
        return 2
    db = open_database(settings)
    # Nothing goes upstream: SIMS ID is where these changes come from.
    lifecycle = Lifecycle(upstream=False, default_channel=settings.simsid_default_channel)
    try:
        outcome = reconcile(
            db,
            lifecycle,
            rows,
            apply=args.apply,
            notify=args.notify,
            max_changes=args.max_changes,
            force=args.force,
        )
    except ListClashes as exc:
        print(f"simsid-bot: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"simsid-bot: DATABASE_URL: the database is not available ({exc})", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    report(outcome, snapshot.describe(args.source), sys.stdout, notify=args.notify)
    if outcome.status == "refused":
        print(f"simsid-bot: refused: {outcome.refused} (--force to apply anyway)", file=sys.stderr)
        return 2
    return 1 if outcome.status == "differs" else 0


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _token_for(settings: Settings, source: str, *, anywhere: bool) -> str | None:
    """SIMSID_RECONCILE_TOKEN when `source` is on SIMSID_RECONCILE_URL's scheme, host and
    port, or `anywhere` (--token): the token must not go to whatever host is typed."""
    token = settings.simsid_reconcile_token
    if token is None or not _is_url(source):
        return None
    home = settings.simsid_reconcile_url
    if anywhere or (
        home and urls.origin(home) is not None and urls.origin(home) == urls.origin(source)
    ):
        return token.get_secret_value()
    return None


def report(outcome: ReconcileResult, source: str, out: TextIO, *, notify: bool = False) -> None:
    """Every difference as a table, then what was done."""
    comparison = outcome.comparison
    listed = comparison.listed
    if comparison.agree:
        out.write(f"in agreement: the bot matches the {listed} installations listed in {source}\n")
        return
    # Names come from SIMS ID's list: shown with control characters escaped, line by line.
    out.write("\n".join(safe(line) for line in table(comparison.differences).split("\n")))
    counts = comparison.counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in Kind if counts[k])
    total = len(comparison.differences)
    plural = "s" if total != 1 else ""
    out.write(f"\n{total} difference{plural} with {source} ({listed} listed): {summary}\n")
    if outcome.status == "differs":
        out.write("dry run: nothing changed (--apply makes the bot agree)\n")
    elif outcome.applied is not None:
        applied = outcome.applied
        done = ", ".join(f"{applied.changed[k]} {k}" for k in Kind if applied.changed[k])
        out.write(f"applied as SIMS ID: {done or 'nothing'}\n")
        if applied.registered:
            out.write(f"applications registered: {', '.join(applied.registered)}\n")
        if applied.skipped:
            out.write(
                f"{len(applied.skipped)} changed by someone else meanwhile, left for the next run\n"
            )
        if counts[Kind.NEW] and not notify:
            out.write("new installations were not posted to Slack (--notify posts them)\n")


def _state(d: Difference) -> tuple[str, str]:
    bot = "-" if d.bot_state is None else d.bot_state.value
    listed = "not listed" if d.listed_enabled is None else ("yes" if d.listed_enabled else "no")
    if d.kind is Kind.CREDENTIALS:
        bot = f"key {d.bot_key}" if d.bot_key else "no credentials"
        if d.bot_key == d.listed_key:
            bot += " (other secret)"
        listed = f"key {d.listed_key}"
    return bot, listed


def _clip(text: str) -> str:
    return text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 1] + "…"


def table(differences: Sequence[Difference]) -> str:
    """A plain-text table, one line per difference, columns padded to fit."""
    lines = [
        (
            d.kind.value,
            _clip(f"{d.application_name} ({d.application_id})"),
            _clip(f"{d.site_name} ({d.site_id})"),
            *_state(d),
        )
        for d in differences
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *lines]) for i in range(len(_COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + "\n"

    rule = "  ".join("-" * w for w in widths) + "\n"
    return line(_COLUMNS) + rule + "".join(line(row) for row in lines)
