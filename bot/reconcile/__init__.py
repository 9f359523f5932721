"""Reconciling with SIMS ID's list, as the bot runs it: fetch the list, compare, guard,
apply, tell the channel.

The package by job: `snapshot` (fetching and parsing the list), `run` (one
reconciliation: the guard, the one max-changes default, the errors it maps), `scheduled`
(the run once per SIMSID_RECONCILE_CRON period, its record and its notice) and `notice`
(the channel notice, typed). What the list and its differences are, and the SQL, are the
store's (store/reconcile/); the state changes are the lifecycle's. The command line
(bot/cli/reconcile.py), the scheduler's job and the notice's view
(bot/slack/views/reconcile.py) only adapt this package.
"""

# The guard's limit, on the command line (--max-changes) and on the schedule alike.
DEFAULT_MAX_CHANGES = 10
