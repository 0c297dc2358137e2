"""The simulated world is reproducible, realistic in its ranges, and consistent in time."""

import numpy as np

from ingest.simulator import chunk_audio
from oceanwatch.geo import KNOT_MPS, Site, distance_m
from oceanwatch.sim.scenario import DEFAULT_SITE, VESSEL_KINDS, Scenario, demo_sites

DAY = 86400.0


def test_same_seed_same_world_and_blocks_are_independent() -> None:
    a, b = Scenario(seed=7), Scenario(seed=7)
    b.block(40)  # generating another period first must not change anything
    assert a.vessels_between(a.start, a.start + DAY) == b.vessels_between(b.start, b.start + DAY)
    assert a.block(3) == Scenario(seed=7).block(3)
    assert a.vessels_between(a.start, a.start + DAY) != Scenario(seed=8).vessels_between(a.start, a.start + DAY)


def test_vessels_have_realistic_identity_size_and_speed() -> None:
    sc = Scenario(seed=3, vessels_per_hour=8)
    vessels = sc.vessels_between(sc.start, sc.start + 2 * DAY)
    kinds = {k.name: k for k in VESSEL_KINDS}
    assert len({v.mmsi for v in vessels}) == len(vessels)
    assert {v.kind for v in vessels} >= {"cargo", "tanker", "fishing", "pleasure", "passenger"}
    for v in vessels:
        kind = kinds[v.kind]
        assert 100_000_000 <= v.mmsi <= 999_999_999
        assert v.ship_type in kind.ship_types
        assert kind.length_m[0] <= v.length_m <= kind.length_m[1] + 0.1
        assert kind.speed_knots[0] <= v.speed_knots <= kind.speed_knots[1] + 0.1
        assert v.ais_class == ("B" if v.kind in ("pleasure", "sailing") else "A")


def test_tracks_move_at_the_stated_speed_and_pass_within_the_region() -> None:
    sc = Scenario(seed=5)
    for v in sc.vessels_between(sc.start, sc.start + DAY)[:20]:
        times = np.array([v.start_time, v.start_time + 600.0])
        lats, lons = v.track(times)
        from oceanwatch.geo import GEOD

        _, _, moved = GEOD.inv(lons[0], lats[0], lons[1], lats[1])
        assert abs(moved - v.speed_knots * KNOT_MPS * 600.0) < 1.0
        dense = np.linspace(v.start_time, v.end_time, 400)
        closest = distance_m(DEFAULT_SITE, *v.track(dense)).min()
        assert closest <= 60_000 + 1_000


def test_states_at_reports_only_vessels_on_transit() -> None:
    sc = Scenario(seed=2)
    t = sc.start + 5 * 3600
    states = sc.states_at(t)
    assert states, "a busy scenario has vessels at any moment"
    for vessel, state in states:
        assert vessel.start_time <= t <= vessel.end_time
        assert state.sog_knots == vessel.speed_knots
        assert -90 <= state.latitude <= 90
    assert all(v.state(v.end_time + 1) is None for v, _ in states)


def test_sim_clock_agrees_across_processes_and_runs_faster() -> None:
    from oceanwatch.sim.clock import SimClock

    a = SimClock.from_settings("2026-11-22T00:00:00+00:00", 10.0)
    b = SimClock.from_settings("2026-11-22T00:00:00", 10.0)  # naive means UTC
    wall = a.anchor + 100.0
    assert a.sim_time(wall) == b.sim_time(wall) == a.anchor + 1000.0
    assert a.wall_time(a.sim_time(wall)) == wall


def test_a_ship_on_the_lane_passes_the_demo_sites_in_turn_and_is_loudest_at_the_nearest() -> None:
    """The demo's sites share one traffic: a lane ship comes within 3 km of MOSS, then of SCRUZ up the
    lane, and each site's simulated audio is the louder one while the ship is at its closest."""
    moss, scruz = demo_sites(DEFAULT_SITE)
    scenario = Scenario(seed=0)
    passes = []
    for vessel in scenario.vessels_between(scenario.start, scenario.start + 24 * 3600):
        times = np.arange(vessel.start_time, vessel.start_time + vessel.duration_s, 30.0)
        fixes = [(t, s) for t in times if (s := vessel.state(t)) is not None]
        lats, lons = np.array([s.latitude for _, s in fixes]), np.array([s.longitude for _, s in fixes])
        to_moss, to_scruz = distance_m(moss, lats, lons), distance_m(scruz, lats, lons)
        if to_moss.min() < 3000 and to_scruz.min() < 3000:
            passes.append((vessel, fixes[int(to_moss.argmin())][0], fixes[int(to_scruz.argmin())][0]))
    assert len(passes) >= 3
    for vessel, at_moss, at_scruz in passes:
        assert 270 < vessel.course_deg < 360 and at_moss < at_scruz, "up the lane: MOSS first, SCRUZ later"

        def level(site: Site, t: float) -> float:
            audio = chunk_audio(scenario, site, int(t // 22.5), 22.5, 8000)
            return float(np.sqrt(np.mean(audio**2)))

        assert level(moss, at_moss) > 1.3 * level(scruz, at_moss)
        assert level(scruz, at_scruz) > 1.3 * level(moss, at_scruz)
