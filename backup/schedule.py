"""Cron times, pure: the longest wait between two runs of a set of schedules.

`bin/sitestack check` calls a backup late when the newest one is older than that wait plus a
grace. Only the expansion of the five fields is needed, so it is done here rather than with a
cron library; the fields were already validated by sitestack.recipes.crontab_model.cron_times.
"""
from __future__ import annotations

from datetime import date, timedelta

ALIASES = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}
RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
NAMES = (
    (), (), (),
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
)
WINDOW_DAYS = 400  # a year and a bit: every weekday of every month, and the wrap into the next year
START = date(2027, 1, 1)


def expand(field: str, index: int) -> set[int]:
    """The values one cron field matches ('*/15', '1-5', 'mon', '1,3')."""
    low, high = RANGES[index]
    names = NAMES[index]
    values: set[int] = set()
    def number(word: str) -> int:
        return names.index(word) + (1 if index == 3 else 0) if word in names else int(word)

    for item in field.lower().split(","):
        base, _, step = item.partition("/")
        if base == "*":
            first, last = low, high
        else:
            first_text, _, last_text = base.partition("-")
            first = number(first_text)
            last = number(last_text) if last_text else (high if step else first)
        values.update(range(first, last + 1, int(step) if step else 1))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return values


def firings(times: str, days: int = WINDOW_DAYS) -> list[int]:
    """Minutes from START at which the schedule runs, within the window."""
    fields = ALIASES.get(times, times).split()
    minutes, hours, doms, months, dows = (expand(f, i) for i, f in enumerate(fields))
    day_restricted, week_restricted = fields[2] != "*", fields[4] != "*"
    in_day = sorted(h * 60 + m for h in hours for m in minutes)
    found: list[int] = []
    for offset in range(days):
        day = START + timedelta(days=offset)
        if day.month not in months:
            continue
        dom, dow = day.day in doms, (day.isoweekday() % 7) in dows
        # cron: when both day fields are restricted, either one matching is enough
        if (dom or dow) if (day_restricted and week_restricted) else (dom and dow):
            found.extend(offset * 1440 + minute for minute in in_day)
    return found


def longest_gap(schedules: list[str]) -> int:
    """Seconds of the longest wait between two runs of any of the schedules."""
    runs = sorted({minute for times in schedules for minute in firings(times)})
    if len(runs) < 2:
        return WINDOW_DAYS * 86400
    return max(b - a for a, b in zip(runs, runs[1:])) * 60
