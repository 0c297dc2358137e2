"""Truth from AIS: hand-built passes with known geometry, late AIS, and relabelling after class edits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from ais_stream.decode import PositionReport
from ais_stream.store import load_sites, store_reports
from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import AISPosition, AuditLog, ClassMapping, Job, PositionRange, TruthLabel, Vessel, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.geo import GEOD, KNOT_MPS, Site, distance_m
from oceanwatch.sites.store import create_site
from oceanwatch.truth.classmap import (
    ClassEditError,
    Edit,
    enqueue_relabel,
    merge_class,
    rehearse,
    remove_class,
    run_relabel,
    set_mapping,
    set_override,
)
from oceanwatch.truth.labeller import Labeller
from oceanwatch.truth.labelling import Track, closest_approach_m, positions_at, split_by_radius
from oceanwatch.truth.labels import TruthConfig, label_windows, windows_touched_by
from visualization.queries import vessel_positions

pytestmark = pytest.mark.integration

SITE = Site("MARS", 36.7125, -122.1875)
T_CPA = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
CONFIG = TruthConfig(radii_km=(20, 30, 40), buffer_km=10.0, max_gap_s=300.0)


def pass_track(
    cpa_km: float,
    knots: float,
    start_s: float,
    end_s: float,
    step_s: float = 60.0,
    side_deg: float = 90.0,
    cpa_s: float = 0.0,
) -> list[tuple[dt.datetime, float, float, float, float]]:
    """Fixes (times relative to T_CPA) of a vessel heading north, passing the site at `cpa_km` at `cpa_s`."""
    cpa_lon, cpa_lat, _ = GEOD.fwd(SITE.longitude, SITE.latitude, side_deg, cpa_km * 1000)
    times = np.arange(start_s, end_s + 1e-9, step_s)
    lons, lats, _ = GEOD.fwd(
        np.full(times.size, cpa_lon),
        np.full(times.size, cpa_lat),
        np.zeros(times.size),
        knots * KNOT_MPS * (times - cpa_s),
    )
    return [
        (T_CPA + dt.timedelta(seconds=float(t)), float(la), float(lo), knots, 0.0)
        for t, la, lo in zip(times, lats, lons)
    ]


def add_vessel(url: str, mmsi: int, ship_type: int | None) -> None:
    with session_scope(url) as s:
        s.add(Vessel(mmsi=mmsi, name=f"V{mmsi}", ship_type=ship_type))


def add_fixes(url: str, mmsi: int, fixes: list[tuple[dt.datetime, float, float, float, float]]) -> None:
    """Positions and their ranges, as the AIS store writes them."""
    with session_scope(url) as s:
        for time, lat, lon, sog, cog in fixes:
            pos = AISPosition(
                mmsi=mmsi, time=time, latitude=lat, longitude=lon, sog_knots=sog, cog_deg=cog, msg_type=1, source="test"
            )
            s.add(pos)
            s.flush()
            d = float(distance_m(SITE, np.array([lat]), np.array([lon]))[0])
            s.add(
                PositionRange(
                    position_id=pos.id, hydrophone_id=SITE.id, mmsi=mmsi, time=time, distance_m=d, bearing_deg=0.0
                )
            )


def add_window(url: str, offset_s: float, hydrophone_id: str = SITE.id) -> int:
    start = T_CPA + dt.timedelta(seconds=offset_s)
    with session_scope(url) as s:
        w = Window(
            hydrophone_id=hydrophone_id,
            start_time=start,
            end_time=start + dt.timedelta(seconds=30),
            sample_rate=4000,
            channels=1,
            source="test",
        )
        s.add(w)
        s.flush()
        return w.id


def labels(url: str, window_id: int) -> dict[int, tuple[list[str], bool]]:
    with session_scope(url) as s:
        rows = s.scalars(select(TruthLabel).where(TruthLabel.window_id == window_id)).all()
        return {r.radius_km: (sorted(r.classes), r.ambiguous) for r in rows}


@pytest.fixture
def url(settings: Settings) -> str:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    return settings.database_url


# ------------------------------------------------------------------ pure geometry


def test_positions_interpolate_between_fixes_and_reckon_beyond_them() -> None:
    track = Track.from_rows([(0.0, 36.0, -122.0, 10.0, 0.0), (100.0, 36.01, -122.0, 10.0, 0.0)])
    lat, lon, known = positions_at(track, np.array([50.0, 100.0, 160.0, 1000.0]), max_gap_s=300)
    assert known.tolist() == [True, True, True, False]
    assert lat[0] == pytest.approx(36.005) and lat[1] == pytest.approx(36.01)
    assert lat[2] == pytest.approx(36.01 + 60 * 10 * KNOT_MPS / 111_320.0)  # dead-reckoned north
    assert lon[2] == pytest.approx(-122.0)


def test_closest_approach_is_found_between_fixes() -> None:
    fixes = pass_track(5.0, 12.0, -600, 600, step_s=600)  # fixes only 10 minutes before and after CPA
    track = Track.from_rows([(t.timestamp(), la, lo, s, c) for t, la, lo, s, c in fixes])
    closest = closest_approach_m(track, SITE, T_CPA.timestamp() - 15, T_CPA.timestamp() + 15, max_gap_s=600)
    assert closest == pytest.approx(5000, abs=50)
    assert closest_approach_m(track, SITE, T_CPA.timestamp() + 5000, T_CPA.timestamp() + 5030, 600) is None


def test_split_by_radius_separates_inside_and_buffer() -> None:
    inside, buffer = split_by_radius({1: 5_000, 2: 20_000, 3: 25_000, 4: 30_001}, 20_000, 10_000)
    assert inside == [1, 2] and buffer == [3]


# ------------------------------------------------------------------ labelled windows in the database


def test_one_ship_pass_labels_by_radius_with_buffer_and_background(url: str) -> None:
    add_vessel(url, 1, 70)  # cargo -> D
    add_fixes(url, 1, pass_track(10.0, 10.0, -12000, 12000))
    near, mid, far, gone = add_window(url, -15), add_window(url, 4000), add_window(url, 6000), add_window(url, 11000)
    with engine_for(url).begin() as conn:
        label_windows(conn, [near, mid, far, gone], CONFIG)
    assert labels(url, near) == {20: (["D"], False), 30: (["D"], False), 40: (["D"], False)}
    # 10 km CPA at 10 kn: 4000 s later about 23 km away, 6000 s later about 32 km
    assert labels(url, mid) == {20: ([], True), 30: (["D"], False), 40: (["D"], False)}
    assert labels(url, far) == {20: (["E"], False), 30: ([], True), 40: (["D"], False)}
    assert labels(url, gone) == {20: (["E"], False), 30: (["E"], False), 40: (["E"], False)}


def test_two_ships_give_both_classes_and_no_ships_give_background(url: str) -> None:
    add_vessel(url, 1, 70)
    add_vessel(url, 2, 30)  # fishing -> A
    add_fixes(url, 1, pass_track(8.0, 12.0, -1200, 1200))
    add_fixes(url, 2, pass_track(3.0, 6.0, -1200, 1200, side_deg=270.0))
    both = add_window(url, 0)
    quiet = add_window(url, 86_400)
    with engine_for(url).begin() as conn:
        label_windows(conn, [both, quiet], CONFIG)
    assert labels(url, both)[20] == (["A", "D"], False)
    assert labels(url, quiet) == {r: (["E"], False) for r in (20, 30, 40)}
    with session_scope(url) as s:
        assert s.get(TruthLabel, (both, 20)).vessels == [1, 2]


def test_a_vessel_without_a_class_makes_the_window_ambiguous(url: str) -> None:
    add_vessel(url, 3, 0)  # "not available": unmapped
    add_fixes(url, 3, pass_track(4.0, 10.0, -600, 600))
    w = add_window(url, 0)
    with engine_for(url).begin() as conn:
        label_windows(conn, [w], CONFIG)
    assert labels(url, w)[20] == ([], True)


def test_mapping_change_cascades_to_labels_with_audit_and_preview(url: str) -> None:
    add_vessel(url, 1, 70)
    add_vessel(url, 2, 30)
    day = 86_400
    add_fixes(url, 1, pass_track(5.0, 10.0, -600, 600))
    add_fixes(url, 1, pass_track(5.0, 10.0, day - 600, day + 600, cpa_s=day))  # back the next day
    add_fixes(url, 2, pass_track(5.0, 10.0, day - 600, day + 600, side_deg=270.0, cpa_s=day))
    early, late, later = add_window(url, 0), add_window(url, day), add_window(url, day + 22.5)
    with engine_for(url).begin() as conn:
        label_windows(conn, [early, late, later], CONFIG)
    assert labels(url, early)[20] == (["D"], False) and labels(url, later)[20] == (["A", "D"], False)

    since = T_CPA + dt.timedelta(hours=12)
    with session_scope(url) as s:
        rehearsed, counts = rehearse(
            s, lambda session: set_mapping(session, [70], "C", user_id=None), since=(None, since)
        )
        assert s.get(ClassMapping, 70).class_code == "D", "the caller's transaction is as it was"
    assert rehearsed.mmsis == [1] and counts == [9, 6]  # three windows x three radii; two windows from `since`
    assert labels(url, early)[20] == (["D"], False), "a rehearsal writes nothing"
    with session_scope(url) as s:
        assert s.get(ClassMapping, 70).class_code == "D" and s.scalars(select(AuditLog)).first() is None

    with session_scope(url) as s:
        edit = set_mapping(s, [70], "C", user_id=None)
        assert edit.mmsis == [1]
        job_id = enqueue_relabel(s, edit, since, user_id=None)
    assert jobs.run_next(url, {"relabel": run_relabel}) == job_id
    assert labels(url, early)[20] == (["D"], False), "windows before the chosen date keep their labels"
    assert labels(url, late)[20] == (["A", "C"], False) and labels(url, later)[40] == (["A", "C"], False)
    with session_scope(url) as s:
        job = s.get(Job, job_id)
        assert job.status == "succeeded" and job.result["changed"] == 6 and job.progress == 1.0
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "mapping.set")).one()
        assert audit.details == {"before": {"70": "D"}, "after": "C"}


def test_override_merge_and_removal_of_classes(url: str) -> None:
    add_vessel(url, 1, 70)
    add_vessel(url, 2, 37)  # pleasure craft -> B
    add_fixes(url, 1, pass_track(5.0, 10.0, -600, 600))
    add_fixes(url, 2, pass_track(6.0, 5.0, -600, 600, side_deg=270.0))
    w = add_window(url, 0)
    with engine_for(url).begin() as conn:
        label_windows(conn, [w], CONFIG)
    assert labels(url, w)[20] == (["B", "D"], False)

    def relabel(edit: Callable[[Session], Edit]) -> None:
        with session_scope(url) as s:
            enqueue_relabel(s, edit(s), None, None)
        jobs.run_next(url, {"relabel": run_relabel})

    relabel(lambda s: set_override(s, 1, "A", None, reason="survey ship"))
    assert labels(url, w)[20] == (["A", "B"], False)
    relabel(lambda s: merge_class(s, "B", "A", None))
    assert labels(url, w)[20] == (["A"], False)
    relabel(lambda s: remove_class(s, "A", None))
    # vessel 1 loses its override and falls back to its type's class; vessel 2's type is now unmapped
    assert labels(url, w)[20] == (["D"], True)
    with pytest.raises(ClassEditError), session_scope(url) as s:
        remove_class(s, "E", None)
    with pytest.raises(ClassEditError), session_scope(url) as s:
        set_mapping(s, [70], "Z", None)


def test_the_live_map_and_truth_give_a_vessel_the_same_class(url: str) -> None:
    """One rule (the vessel_classes view): an override wins over the type mapping on the map and in truth."""
    add_vessel(url, 1, 70)  # cargo -> D
    add_vessel(url, 2, None)  # no type: no class on either side
    add_fixes(url, 1, pass_track(5.0, 10.0, -600, 600))
    add_fixes(url, 2, pass_track(50.0, 10.0, -600, 600))
    w = add_window(url, 0)

    def map_classes() -> dict[int, str]:
        with session_scope(url) as s:
            return {v["mmsi"]: v["class_code"] for v in vessel_positions(s, T_CPA - dt.timedelta(hours=1), T_CPA)}

    with engine_for(url).begin() as conn:
        label_windows(conn, [w], CONFIG)
    assert map_classes() == {1: "D", 2: "unknown"} and labels(url, w)[20] == (["D"], False)
    with session_scope(url) as s:
        enqueue_relabel(s, set_override(s, 1, "A", None, reason="survey ship"), None, None)
    jobs.run_next(url, {"relabel": run_relabel})
    assert map_classes() == {1: "A", 2: "unknown"} and labels(url, w)[20] == (["A"], False)


def test_labeller_labels_when_ais_arrives_and_revises_on_late_ais(settings: Settings) -> None:
    url = settings.database_url
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    labeller = Labeller(url, CONFIG, max_wait_s=3600, revise_lag_s=900)
    add_vessel(url, 1, 70)
    w = add_window(url, 0)
    assert labeller.run_pass() == {"labelled": 0, "revised": 0}, "no AIS has reached the window's end yet"

    # The ship is reported far away, heading away; AIS time passes the window: background.
    add_fixes(
        url,
        1,
        [
            (T_CPA - dt.timedelta(seconds=900), 37.4, SITE.longitude, 0.0, 0.0),
            (T_CPA + dt.timedelta(seconds=60), 37.4, SITE.longitude, 0.0, 0.0),
        ],
    )
    assert labeller.run_pass()["labelled"] == 1
    assert labels(url, w)[20] == (["E"], False)

    # A late report (delayed by a ground station) puts it 3 km away during the window.
    add_fixes(url, 1, [(T_CPA + dt.timedelta(seconds=15), SITE.latitude + 0.027, SITE.longitude, 0.0, 0.0)])
    assert labeller.run_pass()["revised"] >= 1
    assert labels(url, w)[20] == (["D"], False)

    # Reports older than the revision lag do not move settled truth.
    add_fixes(url, 1, [(T_CPA + dt.timedelta(hours=2), 37.4, SITE.longitude, 0.0, 0.0)])
    labeller.run_pass()
    add_vessel(url, 2, 30)
    add_fixes(url, 2, [(T_CPA + dt.timedelta(seconds=20), SITE.latitude + 0.018, SITE.longitude, 0.0, 0.0)])
    assert labeller.run_pass()["revised"] == 0
    assert labels(url, w)[20] == (["D"], False)
    with engine_for(url).begin() as conn:
        label_windows(conn, [w], CONFIG)
    assert labels(url, w)[20] == (["A", "D"], False), "recomputing would have changed it"


def test_a_late_fix_revises_only_the_sites_it_lies_near(settings: Settings) -> None:
    """A late report 3 km off one hydrophone and 100 km from another revises the near site's window only."""
    url = settings.database_url
    far_lat = SITE.latitude + 0.9  # about 100 km north: beyond CONFIG.search_m (56 km)
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
        create_site(session, "NORTH", {"name": "North", "latitude": far_lat, "longitude": SITE.longitude}, None)
    engine = engine_for(url)
    with engine.connect() as conn:
        sites = load_sites(conn)
    assert {s.id for s in sites} == {SITE.id, "NORTH"}

    def report(t_s: float, lat: float) -> PositionReport:
        return PositionReport(
            1, (T_CPA + dt.timedelta(seconds=t_s)).timestamp(), lat, SITE.longitude, 0.0, 0.0, None, None, 1
        )

    labeller = Labeller(url, CONFIG, max_wait_s=3600, revise_lag_s=900)
    add_vessel(url, 1, 70)
    near, far = add_window(url, 0), add_window(url, 0, "NORTH")
    # Halfway between the sites (50 km from each) before and after the windows: both labelled background.
    middle = SITE.latitude + 0.45
    store_reports(engine, [report(-900, middle), report(60, middle)], "test", sites)
    assert labeller.run_pass() == {"labelled": 2, "revised": 0}
    assert labels(url, near)[20] == (["E"], False) and labels(url, far)[20] == (["E"], False)

    def touched_by(lat: float, t_s: float) -> list[int]:
        """Store one late fix as the AIS service does; the windows it makes the labeller revise."""
        with engine.connect() as conn:
            before = conn.execute(text("select clock_timestamp()")).scalar_one()
        store_reports(engine, [report(t_s, lat)], "test", sites)
        with engine.connect() as conn:
            oldest = T_CPA - dt.timedelta(hours=1)
            return windows_touched_by(conn, before, oldest, CONFIG.max_gap_s, CONFIG.search_m)

    assert touched_by(SITE.latitude + 0.027, 15) == [near], "3 km off MARS, 97 km from NORTH"
    assert labeller.run_pass()["revised"] >= 1
    assert labels(url, near)[20] == (["D"], False) and labels(url, far)[20] == (["E"], False)

    assert touched_by(far_lat - 0.027, 20) == [far], "3 km off NORTH"
    labeller.run_pass()
    assert labels(url, far)[20] == (["D"], False) and labels(url, near)[20] == (["D"], False)


def test_a_window_committed_after_a_later_one_is_labelled_by_the_next_full_scan(url: str) -> None:
    """Passes search above the id through which all windows have truth; a periodic full scan catches a
    window whose id was handed out before that floor but whose transaction committed after it."""
    labeller = Labeller(url, CONFIG, max_wait_s=0, full_scan_s=3600)
    add_vessel(url, 1, 70)
    add_fixes(url, 1, pass_track(5.0, 10.0, -600, 600))
    with engine_for(url).connect() as late:
        with late.begin():
            straggler = late.execute(
                insert(Window)
                .values(
                    hydrophone_id=SITE.id,
                    start_time=T_CPA,
                    end_time=T_CPA + dt.timedelta(seconds=30),
                    sample_rate=4000,
                    channels=1,
                    source="test",
                )
                .returning(Window.id)
            ).scalar_one()
            committed = add_window(url, 60)
            assert committed > straggler
            assert labeller.run_pass()["labelled"] == 1 and labeller.labelled_through == committed
    assert labeller.run_pass()["labelled"] == 0, "below the floor: not searched on an ordinary pass"
    labeller.full_scan_s = 0.0
    assert labeller.run_pass()["labelled"] == 1
    assert labels(url, straggler)[20] == (["D"], False) and labeller.labelled_through == committed


def test_windows_wait_for_ais_but_not_forever(settings: Settings) -> None:
    url = settings.database_url
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    w = add_window(url, 0)
    assert Labeller(url, CONFIG, max_wait_s=3600).run_pass()["labelled"] == 0
    with engine_for(url).begin() as conn:
        conn.execute(text("update windows set created_at = now() - interval '1 hour' where id = :id"), {"id": w})
    assert Labeller(url, CONFIG, max_wait_s=600).run_pass()["labelled"] == 1
    assert labels(url, w)[40] == (["E"], False)
