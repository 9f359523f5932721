"""What a button or a submitted modal does, with plain arguments: call the lifecycle,
answer with a view.

Each click is one transaction: the change, its refusal's message refresh and what the
reply shows are read and written together, and delivery is nudged once it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import log_context, metrics
from bot.slack import views
from bot.slack.admins import Access
from bot.slack.views import Message
from store import decide, decisions, messages, outbox, queries, windows
from store.db import Database
from store.lifecycle import Action, ActionResult, Lifecycle, NotFound, allowed_actions
from store.models import Application, State
from store.queries import AppRef, InstallationInfo, SiteRef

log = logging.getLogger(__name__)


@dataclass
class Operations:
    """State changes asked for from Slack; `on_change` nudges delivery after each commit."""

    db: Database
    lifecycle: Lifecycle
    tz: ZoneInfo
    on_change: Callable[[], None] = lambda: None
    # Whether someone is an admin now (Admins.still_admin: None when Slack cannot say): a
    # removal request is confirmed only while its requester still is. No one by default.
    still_admin: Callable[[str], bool | None] = lambda user: False
    # Who may act on which application (admins, its approvers); None: only admins reach
    # this far (the access middleware), as before approvers existed.
    access: Access | None = None

    def refused(self, actor: str, info: InstallationInfo) -> Message | None:
        """The refusal when `actor` may not act on the installation's application."""
        if self.access is None or self.access.may_act(actor, info.app.id):
            return None
        return views.not_approver(info.app.name, self.access.approvers_of(info.app.id))

    def app_refused(self, actor: str, app_id: str) -> Message | None:
        """The refusal when `actor` may not act on the application `app_id` at all."""
        if self.access is None or self.access.may_act(actor, app_id):
            return None
        with self.db.read() as session:
            app = session.get(Application, app_id)
        name = app.name if app is not None else app_id
        return views.not_approver(name, self.access.approvers_of(app_id))

    def _refused_at(self, actor: str, installation_id: int) -> Message | None:
        if self.access is None:
            return None
        with self.db.read() as session:
            info = queries.installation(session, installation_id)
        return None if info is None else self.refused(actor, info)

    # Told who made each decision, after its commit (Delivery.decided: their email, later).
    decided: Callable[[str], None] = lambda actor: None

    def act(
        self,
        *,
        installation_id: int,
        version: int | None,
        action: Action,
        actor: str,
        reason: str | None = None,
        until: datetime | None = None,
    ) -> tuple[bool, Message]:
        """(applied, private reply) for one click, or one submitted reason modal; a Disable
        `until` a time opens a maintenance window ending then (store/windows.py)."""
        refusal = self._refused_at(actor, installation_id)
        if refusal is not None:
            return False, refusal

        def change_it(session: Session) -> ActionResult:
            change = self.lifecycle.act(
                session,
                installation_id=installation_id,
                action=action,
                actor=actor,
                expected_version=version,
                reason=reason,
            )
            if change.applied:
                now = self.lifecycle.clock()
                windows.close_changed(session, installation_id, change.version, now)
            if change.applied and until is not None and action is Action.DISABLE:
                self._open_window(session, installation_id, change.version, until, actor)
            return change

        return self._run(installation_id, change_it)

    def _open_window(
        self, session: Session, installation_id: int, version: int, until: datetime, actor: str
    ) -> None:
        windows.open_window(
            session,
            installation_id=installation_id,
            version=version,
            ends_at=until,
            by=actor,
            now=self.lifecycle.clock(),
        )
        # The message was queued by the Disable; this refresh shows the window's end too.
        self._refresh(session, installation_id)

    def extend(
        self, *, installation_id: int, version: int, until: datetime, actor: str
    ) -> tuple[bool, Message]:
        """Move the end of the installation's maintenance window (still at `version`)."""
        refusal = self._refused_at(actor, installation_id)
        if refusal is not None:
            return False, refusal
        with self.db.session() as session:
            moved = windows.extend(
                session, installation_id=installation_id, version=version, ends_at=until
            )
            if moved:
                self._refresh(session, installation_id)
            info = queries.installation(session, installation_id)
        self.on_change()
        if info is None:
            return False, views.not_found("installation", str(installation_id))
        return moved, views.window_extended(info, moved, self.tz)

    def window(
        self, *, installation_id: int, version: int, actor: str
    ) -> tuple[InstallationInfo | None, Message | None]:
        """Before Extend: the installation with its live window, or why there is none."""
        with self.db.read() as session:
            info = queries.installation(session, installation_id)
        if info is None:
            return None, views.not_found("installation", str(installation_id))
        refusal = self.refused(actor, info)
        if refusal is not None:
            return None, refusal
        if info.version != version or info.disabled_until is None:
            return None, views.window_extended(info, False, self.tz)
        return info, None

    def confirm_removal(
        self, *, installation_id: int, version: int, actor: str
    ) -> tuple[bool, Message]:
        """A second admin confirms another's removal request (the two-person rule); a
        request whose requester may no longer act on the application is made void instead."""
        refusal = self._refused_at(actor, installation_id)
        if refusal is not None:
            return False, refusal
        requester, still = self._requester_now(installation_id, actor)
        revoked: frozenset[str] = frozenset()
        if requester is not None and still is None:  # no void on a guess: try again
            return False, views.requester_unknown(requester)
        if requester is not None and not still:
            revoked = frozenset({requester})
        return self._run(
            installation_id,
            lambda session: self.lifecycle.confirm_removal(
                session,
                installation_id=installation_id,
                actor=actor,
                expected_version=version,
                revoked=revoked,
            ),
        )

    def _requester_now(self, installation_id: int, actor: str) -> tuple[str | None, bool | None]:
        """The open removal request's requester (None if none, or the actor), and whether
        they may act on the application now (None when Slack cannot say).

        Asked before the change's transaction, which must not wait on Slack: a request
        made or withdrawn in between moves the version, and the confirmation is stale.
        """
        with self.db.read() as session:
            info = queries.installation(session, installation_id)
        if info is None or info.removal is None or info.removal.requested_by == actor:
            return None, True
        requester = info.removal.requested_by
        admin = self.still_admin(requester)
        if admin or self.access is None:
            return requester, admin
        approver = self.access.approves(requester, info.app.id, fresh=True)
        if approver or approver is None:
            return requester, approver
        return requester, None if admin is None else False

    def cancel_removal(
        self, *, installation_id: int, version: int, actor: str
    ) -> tuple[bool, Message]:
        """Withdraw an open removal request; anyone who may act on the application may,
        the requester included."""
        refusal = self._refused_at(actor, installation_id)
        if refusal is not None:
            return False, refusal
        return self._run(
            installation_id,
            lambda session: self.lifecycle.cancel_removal(
                session, installation_id=installation_id, actor=actor, expected_version=version
            ),
        )

    def check(
        self, *, installation_id: int, version: int, action: Action, actor: str | None = None
    ) -> tuple[InstallationInfo | None, Message | None]:
        """Before asking why: the installation, or the reply saying the click is too late.

        A button showing an older version, or an action no longer valid, is answered at
        once (and the message refreshed) rather than with a form that cannot succeed.
        """
        # Read only: the click's trigger_id expires in 3 s, so a click that can go on
        # must not queue for SQLite's write lock; only a refresh writes.
        with self.db.read() as session:
            info = queries.installation(session, installation_id)
        if info is None:
            return None, views.not_found("installation", str(installation_id))
        refusal = None if actor is None else self.refused(actor, info)
        if refusal is not None:
            return None, refusal
        stale = info.version != version
        if not stale and action in allowed_actions(info.state):
            return info, None
        with self.db.session() as session:
            self._refresh(session, installation_id)
        self.on_change()
        return None, views.refusal_for(info, action, stale=stale, tz=self.tz)

    def site(self, site_id: str) -> SiteRef | None:
        """The customer with exactly this site id, if there is one."""
        with self.db.read() as session:
            matches = [s for s in queries.match_sites(session, site_id) if s.id == site_id]
        return matches[0] if matches else None

    def _run(
        self, installation_id: int, change_it: Callable[[Session], ActionResult]
    ) -> tuple[bool, Message]:
        log_context.INSTALLATION.set(installation_id)
        try:
            with self.db.session() as session:
                change = change_it(session)
                if not change.applied:
                    # The message may show an old state: refresh it so everyone sees the truth.
                    self._refresh(session, installation_id)
                info = queries.installation(session, installation_id)
        except NotFound:
            return False, views.not_found("installation", str(installation_id))
        self.on_change()
        log.info(
            "installation %s: %s %s",
            installation_id,
            change.step or change.action.value,
            "done" if change.applied else f"refused ({change.refusal})",
        )
        if not change.applied:
            return False, views.refusal(change, self.tz)
        metrics.decision(change.action)
        if change.changed_by:
            self.decided(change.changed_by)
        assert info is not None
        return True, views.change_done(change, info)

    def enabled_at(self, site_id: str, actor: str | None = None) -> tuple[tuple[int, int], ...]:
        """(installation id, version) of each enabled application of one customer that
        `actor` may act on: what a "Disable all" form opened now may disable."""
        with self.db.read() as session:
            infos = queries.customer_installations(session, site_id)
        mine = self._mine(actor)
        return tuple(
            (i.id, i.version)
            for i in infos
            if i.state is State.ENABLED and (mine is None or i.app.id in mine)
        )

    def _mine(self, actor: str | None) -> frozenset[str] | None:
        """The applications `actor` may act on; None for every one."""
        if self.access is None or actor is None:
            return None
        return self.access.apps_of(actor)

    def disable_all(
        self,
        *,
        site_id: str,
        enabled: Sequence[tuple[int, int]],
        actor: str,
        reason: str | None = None,
        until: datetime | None = None,
    ) -> Message:
        """Disable a customer's applications that were enabled when the form opened (maintenance
        or billing), each only if unchanged since: one enabled or changed after is left as is,
        and a replayed form changes nothing."""
        changed = skipped = 0
        mine = self._mine(actor)  # before the transaction, which must not wait on Slack
        with self.db.session() as session:
            matches = [s for s in queries.match_sites(session, site_id) if s.id == site_id]
            if not matches:
                return views.not_found("site", site_id)
            ours = {
                i.id
                for i in queries.customer_installations(session, site_id)
                if mine is None or i.app.id in mine
            }
            for installation_id, version in enabled:
                # Not this customer's (the form was not ours), or not the actor's to act on.
                if installation_id not in ours:
                    continue
                change = self.lifecycle.act(
                    session,
                    installation_id=installation_id,
                    action=Action.DISABLE,
                    actor=actor,
                    expected_version=version,
                    reason=reason,
                )
                if change.applied:
                    metrics.decision(change.action)
                    changed += 1
                    if until is not None:
                        self._open_window(session, installation_id, change.version, until, actor)
                else:
                    skipped += 1
        if changed:
            self.on_change()
            self.decided(actor)
        return views.disabled_all(matches[0], changed, skipped)

    def retry_refused(self, *, outbox_id: int, actor: str) -> Message | None:
        """The refusal when `actor` may not act on the application of the decision."""
        if self.access is None:
            return None
        with self.db.read() as session:
            installation_id = outbox.installation_of(session, outbox_id)
        return None if installation_id is None else self._refused_at(actor, installation_id)

    def application(self, text: str) -> AppRef | None:
        """The one application whose id, slug or name is exactly `text`, if there is one."""
        with self.db.read() as session:
            found = queries.match_apps(session, text, exact_only=True)
        return found[0] if len(found) == 1 else None

    def list_preview(
        self, *, app_id: str, action: Action, text: str, actor: str, reason: str | None
    ) -> tuple[decide.Preview, str | None] | None:
        """What deciding from this list would do, and the id of the stored preview that
        submitting it applies (None when nothing would change, or no such application).
        decide.BadList when the list cannot be read."""
        tokens = decide.parse_list(text)
        with self.db.session() as session:
            app = session.get(Application, app_id)
            if app is None:
                return None
            result = decide.preview(session, app, action, tokens)
            preview_id = None
            if result.eligible:
                now = self.lifecycle.clock()
                preview_id = decide.save(session, result, actor=actor, reason=reason, now=now)
        return result, preview_id

    def list_apply(self, *, preview_id: str, actor: str) -> decide.BatchResult | None:
        """Apply a stored preview that `actor` made, once; None if there is no such preview
        (sent twice, or another's)."""
        with self.db.session() as session:
            record = decide.take(session, preview_id, actor)
            app = session.get(Application, record.application_id) if record else None
            if record is None or app is None:
                return None
            done = decide.apply(
                session,
                self.lifecycle,
                app=app,
                action=Action(record.action),
                pairs=[(i, v) for i, v in record.pairs],
                actor=actor,
                reason=record.reason,
                now=self.lifecycle.clock(),
            )
        self.on_change()
        log.info(
            "batch %s: %s %s, %s skipped", done.batch, done.action, done.changed, len(done.skipped)
        )
        return done

    def retry_upstream(self, *, outbox_id: int) -> bool:
        """Send a failed decision again now; False when there was nothing to retry."""
        with self.db.session() as session:
            retried = decisions.retry(
                session,
                outbox_id,
                now=self.lifecycle.clock(),
                default_channel=self.lifecycle.default_channel,
            )
        if retried:
            self.on_change()
        return retried

    def _refresh(self, session: Session, installation_id: int) -> None:
        messages.refresh(
            session,
            installation_id,
            default_channel=self.lifecycle.default_channel,
            now=self.lifecycle.clock(),
        )
