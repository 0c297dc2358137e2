"""The NMEA simulator: valid sentences, realistic rates, reproducible, and decoding gives back the truth."""

import dataclasses
import datetime as dt
import time
from collections import defaultdict

import pytest
from pyais.util import compute_checksum

from ais_stream.decode import AisDecoder, PositionReport, StaticReport
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.nmea import CLASS_B_INTERVAL_S, STATIC_INTERVAL_S, NmeaSimulator, class_a_interval_s, live_sentences
from oceanwatch.sim.scenario import Scenario

LATLON_RESOLUTION = 1 / 600_000  # AIS positions are in 1/10000 minute


@pytest.fixture(scope="module")
def hour() -> tuple[Scenario, float, float]:
    sc = Scenario(seed=11, vessels_per_hour=6)
    t0 = sc.start + 6 * 3600
    return sc, t0, t0 + 3600


def test_sentences_are_valid_nmea_with_checksums_and_tag_blocks(hour) -> None:
    sc, t0, t1 = hour
    lines = [s for _, s in NmeaSimulator(sc).sentences(t0, t0 + 600)]
    assert lines
    for line in lines:
        tag, sentence = line[1:].split("\\", 1)
        assert sentence.startswith("!AIVDM,") and len(sentence) <= 82
        assert int(sentence[-2:], 16) == compute_checksum(sentence)
        body, tag_sum = tag.split("*")
        assert int(tag_sum, 16) == compute_checksum("!" + body)


def test_same_seed_same_sentences_and_ranges_compose(hour) -> None:
    sc, t0, t1 = hour
    whole = list(NmeaSimulator(sc).sentences(t0, t1))
    again = list(NmeaSimulator(Scenario(seed=11, vessels_per_hour=6)).sentences(t0, t1))
    cut = t0 + 1234.5
    pieces = list(NmeaSimulator(sc).sentences(t0, cut)) + list(NmeaSimulator(sc).sentences(cut, t1))
    assert whole == again == pieces
    assert whole != list(NmeaSimulator(Scenario(seed=12, vessels_per_hour=6)).sentences(t0, t1))


def test_report_rates_follow_the_class_and_speed(hour) -> None:
    sc, t0, t1 = hour
    times: dict[tuple[int, str], list[int]] = defaultdict(list)
    for event in NmeaSimulator(sc).events(t0, t1):
        kind = "static" if event.msg_type in (5, 24) else "position"
        if event.msg_type != 24 or not times[(event.mmsi, kind)] or times[(event.mmsi, kind)][-1] != event.time:
            times[(event.mmsi, kind)].append(event.time)
    vessels = {v.mmsi: v for v in sc.vessels_between(t0, t1)}
    classes_seen = set()
    for (mmsi, kind), ts in times.items():
        if len(ts) < 3:
            continue
        gaps = {b - a for a, b in zip(ts, ts[1:])}
        vessel = vessels[mmsi]
        if kind == "static":
            assert gaps == {STATIC_INTERVAL_S}
        elif vessel.ais_class == "A":
            assert gaps == {class_a_interval_s(vessel.speed_knots)}
            assert gaps <= {2, 6, 10}
        else:
            assert gaps == {CLASS_B_INTERVAL_S}
        classes_seen.add(vessel.ais_class)
    assert classes_seen == {"A", "B"}


def test_decoding_the_sentences_gives_back_the_simulated_truth(hour) -> None:
    sc, t0, t1 = hour
    sim = NmeaSimulator(sc)
    decoder = AisDecoder()
    vessels = {v.mmsi: v for v in sc.vessels_between(t0, t1)}
    events = sim.events(t0, t1)
    positions, statics = [], []
    for event in events:
        for line in event.sentences:
            for report in decoder.feed(line, received_at=event.time + 0.3):
                (positions if isinstance(report, PositionReport) else statics).append((event, report))
    assert not decoder.rejected and decoder.pending_fragments == 0
    assert len(positions) == sum(e.msg_type in (1, 2, 3, 18) for e in events)
    assert {r.msg_type for _, r in positions} == {1, 2, 3, 18}
    for event, report in positions:
        truth = vessels[report.mmsi].state(event.time)
        assert report.mmsi == event.mmsi and report.msg_type == event.msg_type
        assert report.time == event.time  # from the tag block, not the arrival time
        assert abs(report.latitude - truth.latitude) <= LATLON_RESOLUTION
        assert abs(report.longitude - truth.longitude) <= LATLON_RESOLUTION
        assert abs(report.sog_knots - truth.sog_knots) <= 0.05
        assert abs(report.cog_deg - truth.cog_deg) <= 0.051
        assert report.heading_deg == truth.heading_deg
        if vessels[report.mmsi].ais_class == "A":
            assert report.nav_status == truth.nav_status
    merged: dict[int, dict[str, object]] = defaultdict(dict)
    for _, report in statics:
        merged[report.mmsi].update(
            {
                f.name: getattr(report, f.name)
                for f in dataclasses.fields(StaticReport)
                if getattr(report, f.name) is not None
            }
        )
    assert {e.msg_type for e, _ in statics} == {5, 24}
    for mmsi, fields in merged.items():
        vessel = vessels[mmsi]
        assert fields["name"] == vessel.name
        assert fields["call_sign"] == vessel.call_sign
        assert fields["ship_type"] == vessel.ship_type
        assert fields["length_m"] == round(vessel.length_m)
        assert fields["beam_m"] == round(vessel.beam_m)
        if vessel.ais_class == "A":
            assert fields["draught_m"] == pytest.approx(vessel.draught_m)
            assert fields["destination"] == vessel.destination
            assert fields.get("imo") == vessel.imo


def test_live_emission_keeps_pace_with_a_fast_clock() -> None:
    now = time.time()
    sc = Scenario(seed=4, vessels_per_hour=20, start=dt.datetime.fromtimestamp(now - 6 * 3600, dt.timezone.utc))
    clock = SimClock(anchor=now, speed=600.0)  # ten simulated minutes per wall second
    start = clock.now()
    got = []
    stream = live_sentences(NmeaSimulator(sc), clock, lambda: False, start=start)
    began = time.time()
    for t, line in stream:
        got.append((t, line))
        if time.time() - began > 1.0:
            break
    elapsed = time.time() - began
    assert got == list(NmeaSimulator(sc).sentences(start, got[-1][0] + 1))[: len(got)]
    assert got[-1][0] - start <= 600.0 * elapsed + 600.0  # never ahead of the simulated clock
    assert got[-1][0] - start >= 200.0  # and not far behind it


def test_vessels_under_way_are_found_whatever_hour_their_closest_approach_is_in() -> None:
    sc = Scenario(seed=11, vessels_per_hour=6)
    t = sc.start + 6 * 3600 + 5.0
    under_way = [(block, v) for block in range(12) for v in sc.block(block) if v.start_time <= t <= v.end_time]
    assert any(block > 6 for block, _ in under_way), "the case that matters: CPA in a later hour"
    assert sorted(v.mmsi for v, _ in sc.states_at(t)) == sorted(v.mmsi for _, v in under_way)


def test_command_line_writes_the_configured_world_as_a_log(tmp_path, monkeypatch) -> None:
    from oceanwatch.config import get_settings
    from oceanwatch.sim.nmea import main

    monkeypatch.setenv("SCENARIO_SEED", "11")
    monkeypatch.setenv("SCENARIO_VESSELS_PER_HOUR", "6")
    get_settings.cache_clear()
    try:
        assert main(["--start", "2026-01-01T06:00:00+00:00", "--minutes", "10", "--out", str(tmp_path / "a.nmea")]) == 0
    finally:
        get_settings.cache_clear()
    sc = Scenario(seed=11, vessels_per_hour=6)
    t0 = sc.start + 6 * 3600
    assert (tmp_path / "a.nmea").read_text().splitlines() == [s for _, s in NmeaSimulator(sc).sentences(t0, t0 + 600)]


def test_command_line_sends_live_datagrams_that_decode_cleanly() -> None:
    import os
    import socket
    import subprocess
    import sys

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    env = dict(os.environ, SIMULATOR_SPEED="600", SCENARIO_VESSELS_PER_HOUR="30")
    proc = subprocess.Popen(
        [sys.executable, "-m", "oceanwatch.sim.nmea", "--udp", f"127.0.0.1:{receiver.getsockname()[1]}"], env=env
    )
    decoder = AisDecoder()
    try:
        reports = []
        while len(reports) < 20:
            data, _ = receiver.recvfrom(4096)
            reports.extend(decoder.feed(data, time.time()))
    finally:
        proc.terminate()
        proc.wait(10)
        receiver.close()
    assert not decoder.rejected
    assert max(r.time for r in reports) > time.time() + 60  # simulated time runs ahead of the wall clock
