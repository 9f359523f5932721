"""Crontab expressions as crontab reads them, for APScheduler 3, and the periods they mark.

A leaf module (it imports nothing from the bot), so settings can validate a cron with it
and every scheduled job can ask which period it runs in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# Crontab numbers days of the week from Sunday (0 and 7); APScheduler 3 from Monday.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_day(text: str) -> int:
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    number = int(text)
    if not 0 <= number <= 7:
        raise ValueError(f"day of week out of range: {text!r}")
    return number


def cron_trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    """A CronTrigger that reads `cron` as crontab does, in time zone `tz`.

    APScheduler 3's `CronTrigger.from_crontab` takes day-of-week numbers as 0 = Monday,
    so "1-5" would mean Tuesday to Saturday; the days are translated to names first.
    As in APScheduler (unlike Vixie cron), a restricted day of month and day of week
    must both match.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab expression has 5 fields, not {len(fields)}: {cron!r}")
    minute, hour, day, month, weekdays = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekdays),
        timezone=tz,
    )


def _weekday_names(field: str) -> str:
    """Crontab's day-of-week field (numbers from Sunday, names, ranges, steps) as names."""
    days: set[int] = set()
    for part in field.lower().split(","):
        expr, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in day of week: {part!r}")
        if expr == "*":
            first, last = 0, 6
        elif "-" in expr:
            low, high = expr.split("-", 1)
            first, last = _cron_day(low), _cron_day(high)
        else:
            first = _cron_day(expr)
            last = 6 if slash else first  # "1/2" means from Monday on, every other day
        if last < first:
            raise ValueError(f"backwards range in day of week: {part!r}")
        days.update(d % 7 for d in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


# How far back to look for the previous fire time, smallest first: the first window that
# holds one bounds the walk forward to the latest (29 February crons need years).
_LOOKBACKS = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=366 * 9),
)


def period_start(now: datetime, cron: str, tz: ZoneInfo) -> datetime | None:
    """The start of the cron period containing `now`, in UTC; None if it never fired.

    That is the latest fire time at or before `now`, with the cron read in `tz`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    trigger = cron_trigger(cron, tz)
    for lookback in _LOOKBACKS:
        fire = trigger.get_next_fire_time(None, now - lookback)
        if fire is not None and fire <= now:
            return _latest_fire(trigger, fire, now).astimezone(UTC)
    return None


def _latest_fire(trigger: CronTrigger, fire: datetime, now: datetime) -> datetime:
    while True:
        following = trigger.get_next_fire_time(fire, now)
        if following is None or following > now:
            return fire
        fire = following
