"""`/simsid <text>`: parse the text and answer it with a view. No Slack objects here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, overload
from zoneinfo import ZoneInfo

from bot.slack import views
from bot.slack.admins import Access
from bot.slack.views import Message
from bot.slack.views.text import as_typed
from store import queries
from store.db import Database, Session
from store.lifecycle import Lifecycle, NotEnabled
from store.models import utcnow
from store.queries import AppRef, Cursor, SiteRef

LIST_PAGE = 20  # text-only rows
ACTION_PAGE = 10  # rows with buttons: two blocks each, inside Slack's 50

SUBCOMMANDS = ("help", "apps", "app", "customers", "customer", "pending", "secret", "audit")
LISTINGS = frozenset({"apps", "app", "customers", "customer", "pending", "audit"})  # paged
_MAX_TEXT = 500


@dataclass(frozen=True)
class At:
    """Where a listing's page is: the first, or after or before an item's cursor."""

    after: Cursor | None = None
    before: Cursor | None = None


@dataclass(frozen=True)
class Command:
    name: str
    words: tuple[str, ...]

    @property
    def rest(self) -> str:
        return " ".join(self.words)


class Unknown(Exception):
    """The text is not a command the bot knows; the message says what was wrong."""


# Quotes that group words, and the quote that closes each: Slack's clients often turn
# typed quotes into typographic ones.
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}


def split_words(text: str) -> list[str]:
    """Words of `text`; a quote at the start of a word groups words up to its closing quote
    at the end of one. An apostrophe inside a word is just a letter, so
    `St Mary's Primary` is three words (shlex read it as an unclosed quote)."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        close = _QUOTES.get(text[i])
        if close is not None:
            end = i + 1
            while end < n and not (
                text[end] == close and (end + 1 == n or text[end + 1].isspace())
            ):
                end += 1
            if end < n:
                if end > i + 1:
                    words.append(text[i + 1 : end])
                i = end + 1
                continue
        end = i
        while end < n and not text[end].isspace():
            end += 1
        words.append(text[i:end])
        i = end
    return words


def unescape(text: str) -> str:
    """What the person typed: Slack sends `&`, `<` and `>` as `&amp;`, `&lt;`, `&gt;`
    (`&amp;` last, so that a typed `&lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse(text: str | None) -> Command:
    """Split `/simsid` text into a subcommand and its words ("quotes" group words)."""
    # as_typed: a name copied from a message holds lookalikes for `*`, `_`, `:`…
    typed = as_typed(unescape(text or ""))
    cleaned = "".join(ch if ch.isprintable() else " " for ch in typed)[:_MAX_TEXT]
    words = split_words(cleaned)
    if not words:
        return Command("help", ())
    name, args = words[0].lower(), tuple(words[1:])
    if name not in SUBCOMMANDS:
        word = words[0][:40].replace("`", "'")  # a backtick would end the code span early
        raise Unknown(f"I don't know the command `{word}`.")
    if name in ("app", "customer") and not args:
        raise Unknown(
            f"`{name}` needs a name: `/simsid {name} <{'app' if name == 'app' else 'site'}>`"
        )
    if name == "secret" and len(args) < 2:
        raise Unknown("`secret` needs an application and a site: `/simsid secret <app> <site>`")
    if name == "audit" and not args:
        raise Unknown("`audit` needs an application: `/simsid audit <app> [<site>]`")
    return Command(name, args)


def reveals_secret(text: str | None) -> bool:
    """Whether the answer to `text` may hold a client secret: such answers go only through
    the command's response_url, never in the HTTP answer (which a replayed signed
    request would read for as long as its signature is fresh)."""
    try:
        return parse(text).name == "secret"
    except Unknown:
        return False


@dataclass
class Commands:
    """Answers each subcommand with a Message, using the store's queries and the views."""

    db: Database
    lifecycle: Lifecycle
    tz: ZoneInfo
    clock: Callable[[], datetime] = utcnow
    # Who may see and act on which application; None: everyone here is an admin.
    access: Access | None = None

    def _only(self, user: str) -> frozenset[str] | None:
        """The applications `user` approves; None when they may see every one."""
        return None if self.access is None else self.access.apps_of(user)

    def _refused(self, user: str, app: AppRef) -> Message | None:
        """The refusal when `user` may not see or act on `app`."""
        if self.access is None or self.access.may_act(user, app.id):
            return None
        return views.not_approver(app.name, self.access.approvers_of(app.id))

    def run(self, text: str | None, user: str) -> Message:
        try:
            command = parse(text)
        except Unknown as exc:
            return views.help_message(str(exc))
        return self._answer(command.name, command.rest, user)

    def page(
        self,
        name: str,
        rest: str,
        user: str,
        *,
        after: Cursor | None = None,
        before: Cursor | None = None,
    ) -> Message:
        """The page of a listing a paging button asks for.

        The button's value is the client's to choose: only a listing may be named. A
        `secret` there would be answered in place of the message the button sat on (the
        channel's install message, the Home tab), not privately.
        """
        if name not in LISTINGS:
            return views.help_message()
        return self._answer(name, rest, user, after=after, before=before)

    def _answer(
        self,
        name: str,
        rest: str,
        user: str,
        *,
        after: Cursor | None = None,
        before: Cursor | None = None,
    ) -> Message:
        """The answer to a subcommand; for a listing, its first page, or the one after or
        before a cursor."""
        # Only a known subcommand may name a method ("_init__" named __init__).
        if name not in SUBCOMMANDS:
            return views.help_message()
        words = tuple(_split(rest))
        handler = getattr(self, f"_{name}")
        if after is None and before is None:
            first: Message = handler(words, At(), user)
            return first
        try:
            result: Message = handler(words, At(after, before), user)
        except ValueError:
            # A cursor of the wrong kind for this listing (the button was not ours).
            result = handler(words, At(), user)
        return result

    # -- subcommands ---------------------------------------------------------

    def _help(self, words: tuple[str, ...], at: At, user: str) -> Message:
        return views.help_message()

    def _apps(self, words: tuple[str, ...], at: At, user: str) -> Message:
        only = self._only(user)
        with self.db.read() as session:
            return views.apps_listing(
                queries.app_summaries(
                    session, after=at.after, before=at.before, limit=LIST_PAGE, only=only
                )
            )

    def _app(self, words: tuple[str, ...], at: At, user: str) -> Message:
        with self.db.read() as session:
            app = self._one_app(session, " ".join(words))
            if not isinstance(app, AppRef):
                return app
        refusal = self._refused(user, app)
        if refusal is not None:
            return refusal
        with self.db.read() as session:
            page = queries.app_installations(
                session, app.id, after=at.after, before=at.before, limit=ACTION_PAGE
            )
            return views.app_listing(app, page, self.tz)

    def _customers(self, words: tuple[str, ...], at: At, user: str) -> Message:
        search = " ".join(words) or None
        only = self._only(user)
        with self.db.read() as session:
            page = queries.customers(
                session,
                search=search,
                after=at.after,
                before=at.before,
                limit=LIST_PAGE,
                only=only,
            )
        return views.customers_listing(page, search)

    def _customer(self, words: tuple[str, ...], at: At, user: str) -> Message:
        only = self._only(user)
        with self.db.read() as session:
            site = self._one_site(session, " ".join(words))
            if not isinstance(site, SiteRef):
                return site
            page = queries.customer_page(
                session, site.id, after=at.after, before=at.before, limit=ACTION_PAGE, only=only
            )
            # On this page or another, of the applications the person may act on.
            any_enabled = queries.has_enabled(session, site.id, only)
            return views.customer_listing(site, page, self.tz, any_enabled=any_enabled)

    def _pending(self, words: tuple[str, ...], at: At, user: str) -> Message:
        only = self._only(user)
        with self.db.read() as session:
            page = queries.pending(
                session, after=at.after, before=at.before, limit=ACTION_PAGE, only=only
            )
        return views.pending_listing(page, self.tz, self.clock())

    def _secret(self, words: tuple[str, ...], at: At, user: str) -> Message:
        with self.db.read() as session:
            pair = self._app_and_site(session, words)
            if isinstance(pair, Message):
                return pair
            app, site = pair
            info = queries.find_installation(session, app.id, site.id)
        refusal = self._refused(user, app)
        if refusal is not None:
            return refusal
        if info is None:
            return views.not_found("installation", f"{app.name} at {site.name}")
        try:
            # A write session: the audit row of the view commits with the read.
            with self.db.session() as session:
                secret = self.lifecycle.reveal_secret(session, installation_id=info.id, actor=user)
        except NotEnabled:
            return views.not_enabled(info)
        return views.secret_reply(info, secret.client_key, secret.client_secret, secret.origin)

    def _audit(self, words: tuple[str, ...], at: At, user: str) -> Message:
        with self.db.read() as session:
            if len(words) == 1:
                app = self._one_app(session, words[0])
                if not isinstance(app, AppRef):
                    return app
                site: SiteRef | None = None
            else:
                pair = self._app_and_site(session, words, allow_app_only=True)
                if isinstance(pair, Message):
                    return pair
                app, site = pair
        refusal = self._refused(user, app)
        if refusal is not None:
            return refusal
        with self.db.read() as session:
            page = queries.audit(
                session,
                app_id=app.id,
                site_id=site.id if site else None,
                after=at.after,
                before=at.before,
                limit=LIST_PAGE,
            )
            return views.audit_listing(app, site, page, self.tz)

    # -- matching ------------------------------------------------------------

    def _one_app(self, session: Session, text: str) -> AppRef | Message:
        matches = queries.match_apps(session, text)
        if not matches:
            return views.not_found("application", text)
        if len(matches) > 1:
            return views.candidates("application", text, matches)
        return matches[0]

    def _one_site(self, session: Session, text: str) -> SiteRef | Message:
        matches = queries.match_sites(session, text)
        if not matches:
            return views.not_found("site", text)
        if len(matches) > 1:
            return views.candidates("site", text, matches)
        return matches[0]

    @overload
    def _app_and_site(
        self, session: Session, words: tuple[str, ...]
    ) -> tuple[AppRef, SiteRef] | Message: ...

    @overload
    def _app_and_site(
        self, session: Session, words: tuple[str, ...], *, allow_app_only: Literal[True]
    ) -> tuple[AppRef, SiteRef | None] | Message: ...

    def _app_and_site(
        self, session: Session, words: tuple[str, ...], *, allow_app_only: bool = False
    ) -> tuple[AppRef, SiteRef | None] | Message:
        """Split words into <app> <site>: the first split where both match exactly one wins.

        Names may contain spaces; quoting them is never required but always works. With
        `allow_app_only`, all the words may be the application alone: first when they are
        exactly its id, slug or name, else when no split matches.
        """
        whole = " ".join(words)
        if allow_app_only:
            exact = queries.match_apps(session, whole, exact_only=True)
            if len(exact) == 1:
                return exact[0], None
        first_problem: Message | None = None
        for cut in range(1, len(words)):
            app = self._one_app(session, " ".join(words[:cut]))
            if not isinstance(app, AppRef):
                first_problem = first_problem or app
                continue
            site = self._one_site(session, " ".join(words[cut:]))
            if isinstance(site, SiteRef):
                return app, site
            first_problem = site
        if allow_app_only:
            app = self._one_app(session, whole)
            if isinstance(app, AppRef):
                return app, None
            first_problem = first_problem or app
        return first_problem or views.help_message()


def _split(rest: str) -> list[str]:
    return split_words(rest)
