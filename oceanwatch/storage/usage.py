"""Bytes per site and per site-day: windows, spectrograms per spec, predictions, AIS ranges, clips.

Row bytes are `pg_column_size` of the stored rows (compressed, as on disk, without their indexes and,
for spectrograms, without the tuple header);
clips are the files' sizes.  AIS positions are shared by every site: each site's entry carries their
total under `ais_positions_shared` (the same figure for every site; the site's own part is `ais_ranges`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from oceanwatch.audio.clips import site_clips_dir
from oceanwatch.db.models import StorageUsage

_PER_SITE = {
    "windows": "select w.hydrophone_id, sum(pg_column_size(w.*)) from windows w group by 1",
    "predictions": "select w.hydrophone_id, sum(pg_column_size(p.*)) from predictions p "
    "join windows w on w.id = p.window_id group by 1",
    "truth_labels": "select w.hydrophone_id, sum(pg_column_size(t.*)) from truth_labels t "
    "join windows w on w.id = t.window_id group by 1",
    "ais_ranges": "select r.hydrophone_id, sum(pg_column_size(r.*)) from position_ranges r group by 1",
}
# Column by column, not pg_column_size(s.*): a whole-row value detoasts `data`, so measuring would read
# every stored spectrogram; the size of a TOASTed column itself is read from its pointer.
_SPECTROGRAMS = (
    "select w.hydrophone_id, s.spec_hash, sum(pg_column_size(s.window_id) + pg_column_size(s.spec_hash) "
    "+ pg_column_size(s.dtype) + pg_column_size(s.shape) + pg_column_size(s.data)) from spectrograms s "
    "join windows w on w.id = s.window_id group by 1, 2"
)
_DAYS = "select hydrophone_id, count(distinct (start_time at time zone 'UTC')::date) from windows group by 1"


def measure(session: Session, data_dir: Path) -> dict[str, dict[str, Any]]:
    """Per site: `days` with windows and `bytes` by kind (`spectrograms:<spec>` per spec, `clips`)."""
    days = {site: int(n) for site, n in session.execute(text(_DAYS))}
    sites = {site for (site,) in session.execute(text("select id from hydrophones"))}
    usage: dict[str, dict[str, Any]] = {
        site: {"days": days.get(site, 0), "bytes": dict.fromkeys(_PER_SITE, 0)} for site in sites
    }
    for kind, sql in _PER_SITE.items():
        for site, size in session.execute(text(sql)):
            if site in usage:
                usage[site]["bytes"][kind] = int(size or 0)
    for site, spec, size in session.execute(text(_SPECTROGRAMS)):
        usage[site]["bytes"][f"spectrograms:{spec}"] = int(size or 0)
    for site, entry in usage.items():
        entry["bytes"]["clips"] = _clip_bytes(site_clips_dir(data_dir, site))
    shared = positions_bytes(session)
    for entry in usage.values():
        entry["bytes"][SHARED] = shared
    return usage


SHARED = "ais_positions_shared"


def per_day(entry: dict[str, Any]) -> dict[str, float]:
    """A site's own bytes per site-day by kind (its total over the days it has windows)."""
    days = max(entry["days"], 1)
    return {kind: size / days for kind, size in entry["bytes"].items() if kind != SHARED}


def record(session: Session, usage: dict[str, dict[str, Any]], now: dt.datetime) -> None:
    """Store the measurement, one row per site, in the caller's transaction (the data page reads it)."""
    for site, entry in usage.items():
        values = {"hydrophone_id": site, "measured_at": now, "days": entry["days"], "bytes": entry["bytes"]}
        session.execute(
            insert(StorageUsage).values(values).on_conflict_do_update(index_elements=["hydrophone_id"], set_=values)
        )


def positions_bytes(session: Session) -> int:
    """Bytes of every AIS position (shared by the sites)."""
    return int(session.scalar(text("select coalesce(sum(pg_column_size(p.*)), 0) from ais_positions p")) or 0)


def _clip_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else 0
