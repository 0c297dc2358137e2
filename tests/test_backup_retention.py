"""Retention and schedule rules: pure functions, tested over sets of dated backup files."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import schedule

from oceanwatch.config import Settings
from scripts.backup import install_schedule
from scripts.retention import dump_name, parse_dump_name, schedule_times, select_for_deletion

UTC = dt.timezone.utc
MONDAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday: ISO weeks start here


def daily(days: int, start: dt.datetime = MONDAY, per_day: int = 1) -> dict[str, dt.datetime]:
    """Backups on `days` consecutive days from `start`, `per_day` each, named as the service names them."""
    times = {}
    for d in range(days):
        for k in range(per_day):
            when = start + dt.timedelta(days=d, hours=3 * k)
            times[dump_name(when, len(times) + 1)] = when
    return times


def newest(times: dict[str, dt.datetime], names: set[str]) -> str:
    return max(names, key=lambda n: times[n])


def test_nothing_to_delete_when_there_are_no_backups() -> None:
    assert select_for_deletion({}, 7, 4) == set()


def test_the_newest_backup_is_kept_even_with_zero_retention() -> None:
    times = daily(3)
    assert select_for_deletion(times, 0, 0) == set(times) - {newest(times, set(times))}


def test_keep_daily_keeps_the_last_n_days_and_deletes_older() -> None:
    times = daily(10)
    by_age = sorted(times, key=times.get)
    assert select_for_deletion(times, 7, 0) == set(by_age[:3])


def test_only_the_newest_backup_of_each_day_is_kept() -> None:
    times = daily(3, per_day=4)
    deleted = select_for_deletion(times, 7, 0)
    kept = set(times) - deleted
    assert len(kept) == 3
    for name in kept:
        same_day = {n for n in times if times[n].date() == times[name].date()}
        assert name == newest(times, same_day)


def test_keep_weekly_keeps_the_newest_of_each_recent_iso_week() -> None:
    times = daily(6 * 7)  # six full ISO weeks, Monday to Sunday
    deleted = select_for_deletion(times, 0, 4)
    kept = set(times) - deleted
    sundays = {n for n in times if times[n].isoweekday() == 7}
    last_four_sundays = set(sorted(sundays, key=times.get)[-4:])
    assert kept == last_four_sundays


def test_daily_and_weekly_together_keep_the_union() -> None:
    times = daily(6 * 7)
    kept = set(times) - select_for_deletion(times, 7, 4)
    by_age = sorted(times, key=times.get)
    last_week = set(by_age[-7:])
    older_sundays = {n for n in by_age[:-7] if times[n].isoweekday() == 7}
    # the last 7 days are one whole ISO week, whose Sunday is among them; 3 older Sundays complete the 4 weeks
    assert kept == last_week | set(sorted(older_sundays, key=times.get)[-3:])
    assert len(kept) == 10


def test_gaps_do_not_age_out_the_last_good_backups() -> None:
    old = daily(3, start=MONDAY)
    recent = daily(2, start=MONDAY + dt.timedelta(days=60))
    times = {**old, **{f"r-{n}": t for n, t in recent.items()}}
    kept = set(times) - select_for_deletion(times, 4, 0)
    by_age = sorted(times, key=times.get)
    assert kept == set(by_age[-4:]), "days without backups do not count against retention"


def test_days_are_utc_days_whatever_the_timezone_of_the_times() -> None:
    pacific = dt.timezone(dt.timedelta(hours=-8))
    # 23:00 and 17:00 in UTC-8 on Nov 2 are Nov 3 07:00 and Nov 3 01:00 UTC: the same UTC day
    times = {
        "late": dt.datetime(2026, 11, 2, 23, 0, tzinfo=pacific),
        "early": dt.datetime(2026, 11, 2, 17, 0, tzinfo=pacific),
    }
    assert select_for_deletion(times, 7, 0) == {"early"}


def test_iso_weeks_span_the_new_year() -> None:
    # Thursday 31 Dec 2026 and Friday 1 Jan 2027 are both in ISO week 2026-W53
    times = {
        "thu": dt.datetime(2026, 12, 31, 2, tzinfo=UTC),
        "fri": dt.datetime(2027, 1, 1, 2, tzinfo=UTC),
        "prev": dt.datetime(2026, 12, 27, 2, tzinfo=UTC),
    }  # Sunday of 2026-W52
    assert select_for_deletion(times, 0, 1) == {"thu", "prev"}
    assert select_for_deletion(times, 0, 2) == {"thu"}


def test_ties_are_broken_deterministically() -> None:
    when = MONDAY
    times = {"a": when, "b": when}
    assert select_for_deletion(times, 1, 0) == select_for_deletion(dict(reversed(times.items())), 1, 0)
    assert len(select_for_deletion(times, 1, 0)) == 1


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        select_for_deletion(daily(2), -1, 4)
    with pytest.raises(ValueError):
        select_for_deletion(daily(2), 7, -1)


def _oracle(times: dict[str, dt.datetime], keep_daily: int, keep_weekly: int) -> set[str]:
    """The rule stated the other way round: newest per period, for the most recent periods."""

    def newest_per(period) -> dict[object, str]:
        best: dict[object, str] = {}
        for name, when in times.items():
            key = period(when.astimezone(UTC))
            if key not in best or (when, name) > (times[best[key]], best[key]):
                best[key] = name
        return best

    days = newest_per(lambda t: t.date())
    weeks = newest_per(lambda t: t.isocalendar()[:2])
    kept = {max(times, key=lambda n: (times[n], n))}
    kept |= {days[d] for d in sorted(days)[max(0, len(days) - keep_daily) :]} if keep_daily else set()
    kept |= {weeks[w] for w in sorted(weeks)[max(0, len(weeks) - keep_weekly) :]} if keep_weekly else set()
    return set(times) - kept


@pytest.mark.parametrize("seed", range(200))
def test_random_sets_of_backups_agree_with_the_rule(seed: int) -> None:
    rng = random.Random(seed)
    times = {
        f"f{i}": MONDAY + dt.timedelta(minutes=rng.randrange(0, 90 * 24 * 60)) for i in range(rng.randrange(1, 60))
    }
    keep_daily, keep_weekly = rng.randrange(0, 10), rng.randrange(0, 6)
    assert select_for_deletion(times, keep_daily, keep_weekly) == _oracle(times, keep_daily, keep_weekly)


def test_dump_names_round_trip_and_foreign_files_are_ignored() -> None:
    when = dt.datetime(2026, 11, 23, 2, 0, 5, tzinfo=UTC)
    assert parse_dump_name(dump_name(when, 42)) == (when, 42)
    for foreign in (
        "notes.txt",
        "oceanwatch-20261123T020005Z-1.json",
        "oceanwatch-2026-1.dump",
        "oceanwatch-20261123T020005Z-1.dump.partial",
    ):
        assert parse_dump_name(foreign) is None


@pytest.mark.parametrize(
    "at, every, expected",
    [
        ("02:00", 24, ["02:00"]),
        ("02:00", 6, ["02:00", "08:00", "14:00", "20:00"]),
        ("22:30", 12, ["10:30", "22:30"]),
        ("00:15", 1, [f"{h:02d}:15" for h in range(24)]),
        ("03:00", 48, ["03:00"]),
    ],
)
def test_schedule_times(at: str, every: int, expected: list[str]) -> None:
    assert schedule_times(at, every) == expected


@pytest.mark.parametrize(
    "at, every", [("2:00", 24), ("24:00", 24), ("02:60", 24), ("02:00", 5), ("02:00", 0), ("02:00", 36)]
)
def test_bad_schedules_are_refused_clearly(at: str, every: int) -> None:
    with pytest.raises(ValueError, match="BACKUP_"):
        schedule_times(at, every)


def test_install_schedule_registers_one_daily_job_per_time() -> None:
    scheduler = schedule.Scheduler()
    install_schedule(scheduler, Settings().updated(backup={"at": "01:30", "every_hours": 8}), lambda: None)
    assert sorted(str(j.at_time) for j in scheduler.jobs) == ["01:30:00", "09:30:00", "17:30:00"]
    assert all(j.unit == "days" and j.interval == 1 for j in scheduler.jobs)
    every_two_days = schedule.Scheduler()
    install_schedule(every_two_days, Settings().updated(backup={"at": "04:00", "every_hours": 48}), lambda: None)
    assert [(j.interval, str(j.at_time)) for j in every_two_days.jobs] == [(2, "04:00:00")]
