"""AIS truth in the database: window geometry from tracks, then classes through the editable mapping.

Two steps, kept apart on purpose:
- geometry (`label_windows`): which vessels came within R, or within the buffer beyond R, of
  the window's hydrophone - Python over the few tracks near one window (oceanwatch.truth.labelling);
- classes (`derive_classes`): one SQL statement turning those vessel sets into class sets
  through overrides and the ship-type mapping. A mapping change reruns only this step, for
  the rows holding an affected vessel, which is what makes relabelling a year take seconds.
A window whose inside vessels include one without a class (no static data yet, or a type
the mapping leaves unmapped) is ambiguous, like one with a vessel in the buffer: kept, not scored.
`window_truths` reads it back for people (the review page, the live page's truth lane).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from oceanwatch.db.clauses import time_range
from oceanwatch.db.models import TruthLabel, Vessel
from oceanwatch.geo import Site
from oceanwatch.truth.labelling import Track, closest_approach_m, split_by_radius


# The effective label of a window `w` at radius :radius - a reviewer's label over AIS truth - as SQL
# pieces shared by scoring and training, so both read labels by the same rule.
def label_joins(radius: str = ":radius") -> str:
    """Joins giving window `w` its truth `t` at `radius` (an SQL expression) and its human label `h`."""
    return (
        f"left join truth_labels t on t.window_id = w.id and t.radius_km = {radius} "
        "left join human_labels h on h.window_id = w.id"
    )


LABEL_JOINS = label_joins()
LABEL = "coalesce(h.classes, t.classes)::text[]"
LABEL_USABLE = "(h.window_id is not null or (t.window_id is not null and not t.ambiguous))"

KNOTS_MAX = 40.0  # fastest vessel assumed when widening the search beyond the truth radii
BATCH = 500


@dataclass(frozen=True)
class TruthConfig:
    """Radii, buffer and track limits; built from Settings by the labeller service."""

    radii_km: tuple[int, ...] = (20, 30, 40)
    buffer_km: float = 10.0
    max_gap_s: float = 300.0

    @property
    def search_m(self) -> float:
        """Fixes farther than this cannot put a vessel within the largest radius plus buffer."""
        return (max(self.radii_km) + self.buffer_km) * 1000.0 + KNOTS_MAX * 1852 / 3600 * self.max_gap_s


def _epoch(t: dt.datetime) -> float:
    return t.timestamp()


def _windows(conn: Connection, window_ids: Sequence[int]) -> list[tuple[int, str, dt.datetime, dt.datetime]]:
    return list(
        conn.execute(
            text(
                "select id, hydrophone_id, start_time, end_time from windows where id = any(:ids) order by start_time"
            ),
            {"ids": list(window_ids)},
        )
    )


def _tracks(
    conn: Connection, hydrophone: str, start: dt.datetime, end: dt.datetime, search_m: float
) -> dict[int, Track]:
    """Tracks of vessels with a fix within search range of the hydrophone between start and end."""
    rows = conn.execute(
        text(
            "select p.mmsi, p.time, p.latitude, p.longitude, p.sog_knots, p.cog_deg "
            "from position_ranges r join ais_positions p on p.id = r.position_id "
            "where r.hydrophone_id = :h and r.time between :a and :b and r.distance_m <= :d"
        ),
        {"h": hydrophone, "a": start, "b": end, "d": search_m},
    )
    fixes: dict[int, list[tuple[float, float, float, float | None, float | None]]] = defaultdict(list)
    for mmsi, time, lat, lon, sog, cog in rows:
        fixes[mmsi].append((_epoch(time), lat, lon, sog, cog))
    return {mmsi: Track.from_rows(rows_) for mmsi, rows_ in fixes.items()}


# One short statement per batch, whatever its size: the rows travel as one JSON parameter.  A multi-row
# VALUES built per batch differed in length every time and compiling it took a third of a labeller pass;
# many parameter sets instead cost Postgres one statement per row.
_UPSERT_GEOMETRY = text("""
    INSERT INTO truth_labels (window_id, radius_km, vessels, buffer_vessels, classes, ambiguous)
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS t(window_id bigint, radius_km smallint,
        vessels bigint[], buffer_vessels bigint[], classes varchar[], ambiguous boolean)
    ON CONFLICT (window_id, radius_km) DO UPDATE
    SET vessels = excluded.vessels, buffer_vessels = excluded.buffer_vessels, computed_at = now()""")


def label_windows(conn: Connection, window_ids: Sequence[int], config: TruthConfig) -> int:
    """(Re)compute geometry and classes of these windows at every radius, in the caller's transaction, `BATCH`
    windows per query; returns rows written."""
    written = 0
    for i in range(0, len(window_ids), BATCH):
        windows = _windows(conn, window_ids[i : i + BATCH])
        sites = {
            h: Site(h, lat, lon)
            for h, lat, lon in conn.execute(
                text("select id, latitude, longitude from hydrophones where id = any(:ids)"),
                {"ids": sorted({w[1] for w in windows})},
            )
        }
        rows = []
        by_hydrophone: dict[str, list[tuple[int, str, dt.datetime, dt.datetime]]] = defaultdict(list)
        for w in windows:
            by_hydrophone[w[1]].append(w)
        gap = dt.timedelta(seconds=config.max_gap_s)
        for hydrophone, group in by_hydrophone.items():
            tracks = _tracks(conn, hydrophone, group[0][2] - gap, max(w[3] for w in group) + gap, config.search_m)
            for window_id, _, start, end in group:
                closest = {}
                for mmsi, track in tracks.items():
                    d = closest_approach_m(track, sites[hydrophone], _epoch(start), _epoch(end), config.max_gap_s)
                    if d is not None:
                        closest[mmsi] = d
                for radius in config.radii_km:
                    inside, buffer = split_by_radius(closest, radius * 1000.0, config.buffer_km * 1000.0)
                    rows.append(
                        {
                            "window_id": window_id,
                            "radius_km": radius,
                            "vessels": inside,
                            "buffer_vessels": buffer,
                            "classes": [],
                            "ambiguous": True,
                        }
                    )
        if rows:
            conn.execute(_UPSERT_GEOMETRY, {"rows": json.dumps(rows)})
            derive_classes(conn, window_ids=[w[0] for w in windows])
        written += len(rows)
    return written


_DERIVE = """
with vc as materialized (select mmsi, class_code from vessel_classes),
background as (
    select coalesce((select array[code]::varchar[] from ship_classes where is_background and active
                     order by sort_order limit 1), '{{}}') as codes
),
target as (
    select t.window_id, t.radius_km, t.vessels, t.buffer_vessels, t.classes, t.ambiguous
    from truth_labels t {join}
    where {where}
),
agg as (
    select tg.window_id, tg.radius_km,
           coalesce(array_agg(distinct vc.class_code order by vc.class_code)
                    filter (where vc.class_code is not null), '{{}}')::varchar[] as classes,
           bool_or(vc.class_code is null) as unknown
    from target tg
    cross join lateral unnest(tg.vessels) as u(mmsi)
    left join vc on vc.mmsi = u.mmsi
    group by tg.window_id, tg.radius_km
),
derived as (
    select tg.window_id, tg.radius_km,
           case when cardinality(tg.vessels) > 0 then a.classes
                when cardinality(tg.buffer_vessels) > 0 then '{{}}'::varchar[]
                else (select codes from background) end as classes,
           cardinality(tg.buffer_vessels) > 0 or coalesce(a.unknown, false) as ambiguous,
           tg.classes as old_classes, tg.ambiguous as old_ambiguous
    from target tg left join agg a on a.window_id = tg.window_id and a.radius_km = tg.radius_km
)
update truth_labels t set classes = d.classes, ambiguous = d.ambiguous, computed_at = now()
from derived d
where t.window_id = d.window_id and t.radius_km = d.radius_km
  and (d.old_classes is distinct from d.classes or d.old_ambiguous is distinct from d.ambiguous)
"""


def _scope(
    window_ids: Sequence[int] | None, mmsis: Iterable[int] | None, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[str, str, dict[str, object]]:
    """SQL join/where/params selecting the truth rows an edit can change."""
    clauses: list[str] = []
    params: dict[str, object] = {}
    join = ""
    if window_ids is not None:
        clauses.append("t.window_id = any(:window_ids)")
        params["window_ids"] = list(window_ids)
    if mmsis is not None:
        clauses.append("t.vessels && cast(:mmsis as bigint[])")
        params["mmsis"] = sorted(set(mmsis))
    if since is not None or until is not None:
        join = "join windows w on w.id = t.window_id"
    in_range, range_params = time_range("w.start_time", since, until)
    clauses += in_range
    params |= range_params
    return join, " and ".join(clauses) or "true", params


def derive_classes(
    conn: Connection,
    window_ids: Sequence[int] | None = None,
    mmsis: Iterable[int] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> int:
    """Re-derive classes/ambiguity of the selected truth rows; returns how many rows changed.

    `mmsis` None means every row (an edit that can touch any vessel, such as a new background class).
    """
    join, where, params = _scope(window_ids, mmsis, since, until)
    conn.execute(text("set local work_mem = '256MB'"))  # the per-window aggregation stays in memory
    return conn.execute(text(_DERIVE.format(join=join, where=where)), params).rowcount


def affected_windows(conn: Connection, mmsis: Iterable[int] | None, since: dt.datetime | None) -> list[int]:
    """Ids of windows with a truth row holding one of `mmsis` (None: every labelled window), oldest first."""
    join, where, params = _scope(None, mmsis, since, None)
    return list(
        conn.execute(
            text(f"select distinct t.window_id from truth_labels t {join} where {where} order by 1"), params
        ).scalars()
    )


def preview_changes(conn: Connection, mmsis: Iterable[int] | None = None, since: dt.datetime | None = None) -> int:
    """How many truth rows `derive_classes` would change, computed and rolled back in a savepoint."""
    savepoint = conn.begin_nested()
    try:
        return derive_classes(conn, mmsis=mmsis, since=since)
    finally:
        savepoint.rollback()


_UNLABELLED = "not exists (select 1 from truth_labels t where t.window_id = w.id)"


def windows_to_label(
    conn: Connection, watermark: dt.datetime | None, max_wait_s: float, limit: int, after_id: int = 0
) -> list[int]:
    """Unlabelled windows (of id above `after_id`) whose AIS has arrived (newest fix past their end) or that
    waited long enough."""
    return list(
        conn.execute(
            text(
                f"select w.id from windows w where w.id > :after and {_UNLABELLED} "
                "and (w.end_time <= :watermark or w.created_at <= now() - make_interval(secs => :wait)) "
                "order by w.start_time limit :limit"
            ),
            {"after": after_id, "watermark": watermark, "wait": max_wait_s, "limit": limit},
        ).scalars()
    )


def labelled_through(conn: Connection, after_id: int) -> int:
    """The largest id up to which every window has truth, given that every one up to `after_id` has.

    Ids only grow, so a labeller that starts its next search above this reads the recent windows, not
    the whole history, on every pass.
    """
    return int(
        conn.execute(
            text(
                f"select coalesce((select min(w.id) - 1 from windows w where w.id > :after and {_UNLABELLED}), "
                "(select max(w.id) from windows w where w.id > :after), :after)"
            ),
            {"after": after_id},
        ).scalar_one()
    )


def windows_touched_by(
    conn: Connection, received_after: dt.datetime, oldest: dt.datetime, max_gap_s: float, search_m: float
) -> list[int]:
    """Labelled windows whose track could change because fixes arrived after `received_after`.

    Only fixes no older than `oldest` (the revision lag) count: older truth is final.  A fix
    touches only the sites it lies within `search_m` of, because `_tracks` reads no other; so a
    late report off one hydrophone revises that site's windows, not those of every site.  The
    fixes are first folded into one-minute buckets per site, which keeps the join small when a
    feed delivers thousands of late reports at once.
    """
    return list(
        conn.execute(
            text(
                "with late as (select distinct r.hydrophone_id, "
                "date_bin('60 seconds', p.time, timestamptz '2000-01-01 00:00+00') as bucket "
                "from ais_positions p join position_ranges r on r.position_id = p.id "
                "where p.received_at > :after and p.time >= :oldest and r.distance_m <= :d) "
                "select distinct w.id from late join windows w on w.hydrophone_id = late.hydrophone_id "
                "and w.start_time <= late.bucket + make_interval(secs => :gap + 60) "
                "and w.end_time >= late.bucket - make_interval(secs => :gap) "
                "where exists (select 1 from truth_labels t where t.window_id = w.id)"
            ),
            {"after": received_after, "oldest": oldest, "gap": max_gap_s, "d": search_m},
        ).scalars()
    )


def window_truths(
    session: Session, window_ids: Sequence[int], radius_km: int | None = None
) -> dict[int, list[dict[str, Any]]]:
    """AIS truth of these windows at every radius (or one), each vessel with its name and type, by window.

    What a person reads truth as: the review page and the live page's truth lane both show it,
    so both read it here (two queries, however many windows).
    """
    query = select(TruthLabel).where(TruthLabel.window_id.in_(list(window_ids)))
    if radius_km is not None:
        query = query.where(TruthLabel.radius_km == radius_km)
    truths = list(session.scalars(query.order_by(TruthLabel.window_id, TruthLabel.radius_km))) if window_ids else []
    mmsis = sorted({m for t in truths for m in (*t.vessels, *t.buffer_vessels)})
    vessels = {v.mmsi: v for v in session.scalars(select(Vessel).where(Vessel.mmsi.in_(mmsis)))} if mmsis else {}

    def describe(mmsi: int) -> dict[str, Any]:
        v = vessels.get(mmsi)
        return {
            "mmsi": mmsi,
            "name": v.name if v else None,
            "ship_type": v.ship_type if v else None,
            "ship_type_text": v.ship_type_text if v else None,
        }

    out: dict[int, list[dict[str, Any]]] = {}
    for t in truths:
        out.setdefault(t.window_id, []).append(
            {
                "radius_km": t.radius_km,
                "classes": list(t.classes),
                "ambiguous": t.ambiguous,
                "vessels": [describe(m) for m in t.vessels],
                "buffer_vessels": [describe(m) for m in t.buffer_vessels],
            }
        )
    return out
