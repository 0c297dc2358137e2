"""Which backups to keep: the newest of each of the last N days and of the last M ISO weeks.

Pure functions over names and times, so every retention rule is tested without files.
Periods count only days/weeks that *have* backups (as restic's --keep-daily does): if the
service was down for a month, the last good backups are kept rather than aged out.
The newest backup is always kept, whatever the settings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path

PREFIX = "oceanwatch-"
_NAME = re.compile(r"^oceanwatch-(\d{8}T\d{6}Z)-(\d+)\.dump$")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def dump_name(when: dt.datetime, backup_id: int) -> str:
    """File name of a dump: sortable UTC time, then the backups row id (unique even within a second)."""
    return f"{PREFIX}{when.astimezone(dt.timezone.utc).strftime(STAMP_FORMAT)}-{backup_id}.dump"


def parse_dump_name(name: str) -> tuple[dt.datetime, int] | None:
    """(time, backup id) of a dump file name, or None for files that are not ours."""
    match = _NAME.match(name)
    if match is None:
        return None
    when = dt.datetime.strptime(match.group(1), STAMP_FORMAT).replace(tzinfo=dt.timezone.utc)
    return when, int(match.group(2))


def companions(dump: Path) -> list[Path]:
    """The files that belong to a dump and go with it: the manifest and the files tar."""
    return [dump.with_suffix(".json"), dump.with_suffix(".files.tar")]


def _newest_per_period(
    ordered: list[Hashable],
    times: Mapping[Hashable, dt.datetime],
    periods: int,
    period_of: Callable[[dt.datetime], object],
) -> set[Hashable]:
    kept: set[Hashable] = set()
    seen: set[object] = set()
    for key in ordered:
        period = period_of(times[key])
        if period in seen:
            continue
        if len(seen) == periods:
            break
        seen.add(period)
        kept.add(key)
    return kept


def select_for_deletion(times: Mapping[Hashable, dt.datetime], keep_daily: int, keep_weekly: int) -> set[Hashable]:
    """The keys (file names) retention deletes; everything else is kept.

    Kept: the newest backup of each of the `keep_daily` most recent UTC days that have
    backups, the newest of each of the `keep_weekly` most recent ISO weeks, and the newest
    backup overall.
    """
    if keep_daily < 0 or keep_weekly < 0:
        raise ValueError("retention counts must not be negative")
    ordered = sorted(times, key=lambda k: (times[k], str(k)), reverse=True)
    if not ordered:
        return set()

    def utc(t: dt.datetime) -> dt.datetime:
        return t.astimezone(dt.timezone.utc)

    kept = {ordered[0]}
    kept |= _newest_per_period(ordered, times, keep_daily, lambda t: utc(t).date())
    kept |= _newest_per_period(ordered, times, keep_weekly, lambda t: utc(t).isocalendar()[:2])
    return set(times) - kept


def schedule_times(at: str, every_hours: int) -> list[str]:
    """Times of day ("HH:MM") of scheduled backups: from `at`, every `every_hours` hours.

    `every_hours` must divide 24 (then runs fall at the same times each day) or be a
    multiple of 24 (then it is one run at `at` every that many days).
    """
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", at)
    if match is None:
        raise ValueError(f"BACKUP_AT must be HH:MM (24-hour), got {at!r}")
    if every_hours <= 0 or (24 % every_hours and every_hours % 24):
        raise ValueError(f"BACKUP_EVERY_HOURS must divide 24 or be a multiple of 24, got {every_hours}")
    if every_hours >= 24:
        return [at]
    start = int(match.group(1)) * 60 + int(match.group(2))
    minutes = sorted((start + k * every_hours * 60) % 1440 for k in range(24 // every_hours))
    return [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]
