"""Reconciling with SIMS ID's own list: every way the bot and the list differ, and the rows
an apply writes that are not the lifecycle's moves.

SIMS ID pushes nothing, so its list (one row per installation it knows) is the truth the
bot checks itself against. What differs, and how it is applied (docs/reconcile.md):

* new: listed, unknown to the bot or removed: a new installation (pending, or enabled
  when the list says yes);
* gone: not listed, pending, enabled or disabled in the bot: removed;
* approved in SIMS ID: yes in the list, pending or disabled in the bot: enabled;
* disabled in SIMS ID: no in the list, enabled in the bot: disabled ("no" agrees with
  pending and with disabled);
* credentials differ: the list gives a client key and secret, the bot has others or
  none: SIMS ID's are stored.

The package by job: `types` (Listed, Difference, Kind, Comparison, Applied), `compare`
(the list as a temporary table, the two joins, the one-apply-at-a-time lock), `apply`
(SIMS ID's credentials and the install messages an apply writes, set-based) and
`last_run` (the scheduled run's record that /healthz and the metrics read).

The boundary with the lifecycle: every change of an installation's state is a move of
the lifecycle's rule table (store/lifecycle/rules.py, MOVES), made by the lifecycle, so
`Lifecycle.reconcile` (set-based) and `Lifecycle.reconcile_one_by_one` (its reference)
stay the entry points, in store/lifecycle/reconcile.py, and build their statements from
that table. The dependency runs one way: the lifecycle imports this package's types and
writes; nothing here imports the lifecycle (the lifecycle's package would import this one
back, a cycle tests/test_imports.py refuses). The run around it (fetching the list, the
guard, the channel's notice) is the bot's: bot/reconcile/.
"""
