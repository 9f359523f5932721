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
(making the bot agree: `reconcile`, set-based, and `reconcile_one_by_one`, its reference),
`writes` (SIMS ID's credentials and the install messages an apply writes) and `last_run`
(the scheduled run's record that /healthz and the metrics read).

The boundary with the lifecycle: every change of an installation's state is a move of
the lifecycle's rule table (store/lifecycle/rules.py, MOVES), made with the lifecycle's
own parts (`Lifecycle.steps`), so the rules stay in one place. The dependency runs one
way: this package imports the lifecycle; the lifecycle imports nothing from here
(tests/test_imports.py refuses a cycle). The run around it (fetching the list, the
guard, the channel's notice) is the bot's: bot/reconcile/.
"""
