"""The command line: `simsid-bot` and `python -m bot`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import Purpose, Settings, SettingsError, load_settings
from bot.logging_setup import configure_logging
from bot.reconcile import DEFAULT_MAX_CHANGES
from bot.runtime import StartupError


class UsageError(Exception):
    """A mistake in how the command was called; exit 2 with this message."""


def _bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}")
        return value

    return parse


def _text(text: str) -> str:
    """An argparse type: any text but blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be blank")
    return text


def _principals(text: str) -> list[str]:
    """An argparse type: Slack user and user group ids, comma-separated ("" for none)."""
    from bot.config import slack_principals

    try:
        return slack_principals(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _name(text: str) -> str:
    """An argparse type: a name shown in Slack and on terminals, one line, not blank."""
    from bot.simsid.schema import control_character

    found = control_character(_text(text))
    if found is not None:
        raise argparse.ArgumentTypeError(f"must not contain control characters ({found})")
    return text


_port = _bounded(0, 65535)
_row_id = _bounded(1, 2**63 - 1)  # what a database's integer key can hold


def _retry_target(value: str) -> int | str:
    """`--retry`: a decision's id, or `all` (every item held by a refusal of Slack)."""
    return "all" if value == "all" else _row_id(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simsid-bot",
        description="Approve, disable and remove SIMS ID installations from Slack.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bot's HTTP server (and jobs and delivery)")
    serve.add_argument("--port", type=_port, default=None, help="HTTP port (default: $PORT)")
    serve.add_argument(
        "--workers",
        type=_bounded(1, 256),  # as WEB_CONCURRENCY
        default=None,
        help="web worker processes (default: $WEB_CONCURRENCY, else one per CPU core)",
    )
    serve.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        help="serve /metrics on this port alone (default: on the main port, see README)",
    )
    serve.add_argument(
        "--socket-mode", action="store_true", help="take Slack traffic over Socket Mode"
    )
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not run the digest, reminders and scheduled reconcile",
    )

    worker = sub.add_parser("worker", help="run the scheduled jobs and delivery, no HTTP")
    worker.add_argument(
        "--metrics-port", type=_port, default=None, help="serve /metrics on this port"
    )

    doctor = sub.add_parser(
        "doctor", help="check the setup (database, key, Slack, channels, admins, SIMS ID)"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    db_sub.add_parser("upgrade", help="apply the database migrations")

    keys = sub.add_parser("keys", help="encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="SUBCOMMAND")
    keys_sub.add_parser("generate", help="print a new encryption key")
    keys_sub.add_parser("rotate", help="re-encrypt every secret under the first key")

    apps = sub.add_parser("apps", help="registered applications")
    apps_sub = apps.add_subparsers(dest="apps_command", required=True, metavar="SUBCOMMAND")
    add = apps_sub.add_parser("add", help="register an application, or update it")
    add.add_argument("name", type=_name)
    add.add_argument("--id", required=True, dest="app_id", type=_text)
    add.add_argument("--channel", default=None, help="channel id for its install messages")
    add.add_argument("--bypass-auth", action="store_true", default=None)
    add.add_argument("--sims-primary", action="store_true", default=None)
    approvers_help = (
        "Slack user (U…) and user group (S…) ids, comma-separated, who may act on its "
        'installations and read its secrets besides SIMSID_ADMINS ("" for none)'
    )
    add.add_argument("--approvers", default=None, type=_principals, help=approvers_help)
    edit = apps_sub.add_parser("edit", help="change a registered application")
    edit.add_argument("app", metavar="APP", type=_text, help="its id, slug or name")
    edit.add_argument("--channel", default=None, help="channel id for its install messages")
    edit.add_argument("--approvers", default=None, type=_principals, help=approvers_help)
    apps_sub.add_parser("list", help="list registered applications")

    ingest = sub.add_parser("ingest", help="import install events from JSON lines or CSV")
    ingest.add_argument("file", type=Path)
    ingest.add_argument("--notify", action="store_true", help="post install messages too")

    reconcile = sub.add_parser(
        "reconcile", help="compare with SIMS ID's own list of installations (and --apply it)"
    )
    reconcile.add_argument("source", metavar="SOURCE", help="CSV or JSON lines: a path or URL")
    reconcile.add_argument("--apply", action="store_true", help="make the bot agree")
    reconcile.add_argument(
        "--notify", action="store_true", help="post messages for new installations too"
    )
    reconcile.add_argument(
        "--max-changes",
        "--max-removals",  # its former name, when only removals were counted
        dest="max_changes",
        type=int,
        default=DEFAULT_MAX_CHANGES,
        metavar="N",
        help="refuse more than N removals, disables and approvals together (default %(default)s)",
    )
    reconcile.add_argument("--force", action="store_true", help="apply past --max-changes")
    reconcile.add_argument(
        "--token",
        action="store_true",
        help="send SIMSID_RECONCILE_TOKEN to SOURCE's host even when it is not "
        "SIMSID_RECONCILE_URL's (by default the token goes only there)",
    )

    disable = sub.add_parser(
        "disable", help="disable one installation, until a time if given (a maintenance window)"
    )
    disable.add_argument("app", metavar="APP", type=_text, help="application id, slug or name")
    disable.add_argument("site", metavar="SITE", type=_text, help="site id, URN or DfE number")
    disable.add_argument("--as", dest="actor", required=True, metavar="SLACK_USER_ID")
    disable.add_argument("--reason", default=None, help="why: audit log, message, upstream")
    disable.add_argument(
        "--until", default=None, metavar="ISO8601", help="enable again then (SIMSID_TIMEZONE)"
    )
    decide = sub.add_parser(
        "decide", help="approve or disable an application's installations named in a list"
    )
    decide.add_argument("decision", choices=["approve", "disable"])
    decide.add_argument("app", metavar="APP", help="the application's id, slug or name")
    decide.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        metavar="FILE",
        help="URNs and/or DfE numbers, one a line or separated by commas or spaces (5,000 at most)",
    )
    decide.add_argument("--as", dest="actor", required=True, metavar="SLACK_USER_ID")
    decide.add_argument("--reason", metavar="TEXT", help="why (required to disable)")
    decide.add_argument("--apply", action="store_true", help="make the change (default: preview)")

    digest = sub.add_parser("digest", help="post the pending-approvals digest now")
    digest.add_argument("--force", action="store_true", help="post even if already posted")

    outbox = sub.add_parser("outbox", help="decisions waiting to reach SIMSID_UPSTREAM_URL")
    outbox.add_argument(
        "--retry",
        type=_retry_target,
        metavar="ID|all",
        help="retry this decision now; `all`: everything Slack's refusals hold, now",
    )

    sandbox = sub.add_parser("sandbox", help="try the bot in a browser, no Slack needed")
    sandbox.add_argument("--port", type=_port, default=8080)
    sandbox.add_argument("--db", type=Path, default=Path("sandbox.db"))
    return parser


def _settings(purpose: Purpose | None) -> Settings:
    return load_settings(purpose)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SettingsError as exc:
        print(f"simsid-bot: {exc}", file=sys.stderr)
        return 2
    except (StartupError, UsageError) as exc:
        print(f"simsid-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from bot.cli import subcommands as commands_cli

    if args.command == "reconcile":
        from bot.cli.reconcile import cmd_reconcile

        settings = _settings("store")
        configure_logging(settings.log_level, settings.log_format)
        return cmd_reconcile(settings, args)

    if args.command == "disable":
        from bot.cli.disable import cmd_disable

        settings = _settings("store")
        configure_logging(settings.log_level, settings.log_format)
        return cmd_disable(settings, args)
    if args.command == "decide":
        from bot.cli.decide import cmd_decide

        settings = _settings("store")
        configure_logging(settings.log_level, settings.log_format)
        return cmd_decide(settings, args, sys.stdout)

    if args.command == "keys" and args.keys_command == "generate":
        return commands_cli.keys_generate()
    if args.command == "sandbox":
        from bot.sandbox.run import run_sandbox

        configure_logging("INFO")
        return run_sandbox(port=args.port, db_path=args.db)
    purpose: dict[str, Purpose] = {
        "serve": "socket" if getattr(args, "socket_mode", False) else "serve",
        "worker": "worker",
        "doctor": "worker",  # what a running bot cannot do without
        "digest": "digest",
        "keys": "keys",
        "apps": "store",
        "ingest": "store",
        "db": "store",
        "outbox": "store",
        "reconcile": "store",
        "disable": "store",
    }
    settings = _settings(purpose.get(args.command))
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger(__name__).debug("command %s", args.command)
    handler = getattr(commands_cli, f"cmd_{args.command}")
    result: int = handler(settings, args)
    return result
