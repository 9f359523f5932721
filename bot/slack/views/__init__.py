"""Pure view functions: plain data in, Block Kit dicts out; they never call Slack or the store."""

from bot.slack.views.audit import audit_listing
from bot.slack.views.blocks import MAX_BLOCKS
from bot.slack.views.common import (
    Message,
    installation_buttons,
    pager,
)
from bot.slack.views.digest import burst_summary, digest, reminder
from bot.slack.views.home import admin_home, visitor_home
from bot.slack.views.install import install_message, install_minimal
from bot.slack.views.listings import (
    app_listing,
    apps_listing,
    customer_listing,
    customers_listing,
    pending_listing,
)
from bot.slack.views.modals import (
    disable_all_modal,
    disable_modal,
    extend_modal,
    outcome_modal,
    remove_modal,
)
from bot.slack.views.reconcile import reconcile_notice, window_notice
from bot.slack.views.refusals import channel_refused_notice, delivery_trouble
from bot.slack.views.replies import (
    candidates,
    change_done,
    database_unavailable,
    disabled_all,
    help_message,
    not_allowed,
    not_approver,
    not_enabled,
    not_found,
    refusal,
    refusal_for,
    requester_unknown,
    secret_reply,
    unexpected_error,
    window_extended,
    working_on_it,
)
from bot.slack.views.text import clip, escape, format_time, format_wait, mention, state_label

__all__ = [
    "MAX_BLOCKS",
    "Message",
    "admin_home",
    "app_listing",
    "apps_listing",
    "audit_listing",
    "burst_summary",
    "candidates",
    "change_done",
    "channel_refused_notice",
    "clip",
    "customer_listing",
    "customers_listing",
    "database_unavailable",
    "delivery_trouble",
    "digest",
    "disable_all_modal",
    "disable_modal",
    "disabled_all",
    "escape",
    "extend_modal",
    "format_time",
    "format_wait",
    "help_message",
    "install_message",
    "install_minimal",
    "installation_buttons",
    "mention",
    "not_allowed",
    "not_approver",
    "not_enabled",
    "not_found",
    "outcome_modal",
    "pager",
    "pending_listing",
    "reconcile_notice",
    "refusal",
    "refusal_for",
    "reminder",
    "remove_modal",
    "requester_unknown",
    "secret_reply",
    "state_label",
    "unexpected_error",
    "visitor_home",
    "window_extended",
    "window_notice",
    "working_on_it",
]
