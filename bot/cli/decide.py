"""`simsid-bot decide approve|disable APP --from FILE --as USER`: decide from a list.

A dry run by default, printing what the list matches; `--apply` makes the change as one
audited batch by that Slack user. Exit 0: applied, or nothing to do; 1: a dry run with
something to do; 2: bad input, naming the argument or the line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from bot.cli.terminal import safe
from bot.config import Settings
from bot.runtime import StartupError, open_database
from store import decide, queries
from store.lifecycle import Action, Lifecycle, is_person
from store.models import Application

REASON_MAX = 500  # as the Disable modal's field
SHOWN = 50  # lines of each kind printed; the counts are always whole


def read_list(path: Path) -> list[str]:
    """The identifiers of FILE, read a line at a time (a line of 10 MB is refused, not
    held in memory); StartupError naming the line."""
    if not path.is_file():
        raise StartupError(
            f"--from: {path} {'is not a file' if path.exists() else 'does not exist'}"
        )

    def lines(handle: TextIO) -> object:
        while line := handle.readline(decide.LINE_MAX + 2):
            yield line.rstrip("\r\n")

    try:
        with path.open(encoding="utf-8") as handle:
            return decide.parse_lines(lines(handle))  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        raise StartupError(f"--from: not UTF-8 text (byte {exc.start})") from None
    except decide.BadList as exc:
        raise StartupError(f"--from {path}: {exc}") from None


def print_preview(result: decide.Preview, out: TextIO) -> None:
    """The preview as the modal shows it, for a terminal."""
    verb = "approved" if result.action is Action.APPROVE else "disabled"
    print(
        f"{safe(result.application_name)}: {result.identifiers:,} identifiers; "
        f"{len(result.eligible):,} will be {verb}",
        file=out,
    )
    for m in result.eligible[:SHOWN]:
        print(f"  {verb}\t{safe(m.identifier)}\t{safe(m.site_name)}", file=out)
    for m in result.ineligible[:SHOWN]:
        print(f"  {m.state}\t{safe(m.identifier)}\t{safe(m.site_name)} (left as is)", file=out)
    for token in result.unmatched[:SHOWN]:
        print(f"  no match\t{safe(token)}", file=out)
    for d in result.duplicates[:SHOWN]:
        print(f"  duplicate\t{safe(d.identifier)}\tsame school as {safe(d.of)}", file=out)
    print(
        f"{len(result.ineligible):,} left as they are, "
        f"{len(result.unmatched):,} matching nothing, {len(result.duplicates):,} duplicates",
        file=out,
    )


def cmd_decide(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Preview (and with --apply, make) a decision from a list."""
    action = Action(args.decision)
    if not is_person(args.actor):
        raise StartupError("--as: must be a Slack user id such as U0123ABCD")
    reason = " ".join((args.reason or "").split()) or None
    if action is Action.DISABLE and reason is None:
        raise StartupError("--reason: required to disable (it goes in the audit log)")
    if reason is not None and len(reason) > REASON_MAX:
        raise StartupError(f"--reason: keep it under {REASON_MAX} characters")
    tokens = read_list(args.source)
    db = open_database(settings)
    lifecycle = Lifecycle(
        upstream=bool(settings.simsid_upstream_url),
        default_channel=settings.simsid_default_channel,
    )
    with db.session() if args.apply else db.read() as session:
        found = queries.match_apps(session, args.app, exact_only=True)
        if len(found) != 1:
            raise StartupError(f"APP: no application has the id, slug or name {args.app!r}")
        app = session.get(Application, found[0].id)
        assert app is not None
        result = decide.preview(session, app, action, tokens)
        print_preview(result, out)
        if not args.apply:
            return 1 if result.differences else 0
        if not result.differences:
            return 0
        done = decide.apply(
            session,
            lifecycle,
            app=app,
            action=action,
            pairs=result.pairs,
            actor=args.actor,
            reason=reason,
            now=lifecycle.clock(),
        )
    print(f"batch {done.batch}: {done.changed:,} {action.value}d", file=out)
    for name, state in done.skipped[:SHOWN]:
        print(f"  skipped\t{safe(name)} (changed meanwhile: {state})", file=out)
    return 0
