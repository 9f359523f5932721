"""Read-only queries for the Slack side, answering with plain frozen dataclasses.

Every listing is paged by keyset over an indexed order (`paging`: a page starts after
the (sort key, id) of the last item shown), so any page, the last one too, costs about
the same at 200,000 installations as at 20.

The package by job: `results` (the answer types), `joined` (installation rows with
their application and site, and the prebuilt statements), `lookups` (one installation,
matching names), `listings` (the paged lists), `auditlog` and `counts` (digest and
health aggregates).
"""

from store.models import DECISION_ACTIONS
from store.queries.auditlog import audit, latest_decisions
from store.queries.counts import (
    MetricGauges,
    metric_gauges,
    oldest_undelivered,
    pending_counts,
    unposted_backlog,
)
from store.queries.listings import (
    app_installations,
    app_summaries,
    customer_installations,
    customer_page,
    customers,
    list_applications,
    pending,
    removal_requests,
)
from store.queries.lookups import (
    find_installation,
    has_enabled,
    installation,
    match_apps,
    match_sites,
)
from store.queries.results import (
    LIVE_STATES,
    MAX_CANDIDATES,
    AppRef,
    AppSummary,
    AuditLine,
    Cursor,
    CustomerApp,
    CustomerSummary,
    InstallationInfo,
    Page,
    PendingCount,
    RemovalRequest,
    SiteRef,
    UpstreamStatus,
    VoidRemoval,
    app_ref,
    site_ref,
)

__all__ = [
    "DECISION_ACTIONS",
    "LIVE_STATES",
    "MAX_CANDIDATES",
    "AppRef",
    "AppSummary",
    "AuditLine",
    "Cursor",
    "CustomerApp",
    "CustomerSummary",
    "InstallationInfo",
    "MetricGauges",
    "Page",
    "PendingCount",
    "RemovalRequest",
    "SiteRef",
    "UpstreamStatus",
    "VoidRemoval",
    "app_installations",
    "app_ref",
    "app_summaries",
    "audit",
    "customer_installations",
    "customer_page",
    "customers",
    "find_installation",
    "has_enabled",
    "installation",
    "latest_decisions",
    "list_applications",
    "match_apps",
    "match_sites",
    "metric_gauges",
    "oldest_undelivered",
    "pending",
    "pending_counts",
    "removal_requests",
    "site_ref",
    "unposted_backlog",
]
