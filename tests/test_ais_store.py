"""AIS into the real Postgres and the real broker: vessels, positions, ranges, no duplicates, Kafka messages."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from ais_stream.decode import PositionReport, StaticReport
from ais_stream.service import AisPipeline, open_source, run
from ais_stream.sources import FileSource, HttpSource, SimulatorSource, TcpSource, UdpSource
from ais_stream.store import store_reports, vessel_rows
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import AISPosition, Hydrophone, PositionRange, Vessel
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.geo import GEOD, Site, distance_m
from oceanwatch.kafka import FAST_FAIL_TIMEOUTS, Publisher, PublishQueue, ensure_topics, make_consumer
from oceanwatch.messages import PositionMessage
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.nmea import NmeaSimulator
from oceanwatch.sim.scenario import Scenario
from tests.brokerkit import restart

SECOND_SITE = Site("NORTH", 36.95, -122.05)


@pytest.fixture
def world(settings: Settings) -> tuple[Scenario, float, float]:
    """Two hydrophones in the database and 20 minutes of a busy scenario."""
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    with session_scope(settings.database_url) as session:
        session.add(
            Hydrophone(id=SECOND_SITE.id, name="north", latitude=SECOND_SITE.latitude, longitude=SECOND_SITE.longitude)
        )
    sc = Scenario(seed=21, vessels_per_hour=10)
    t0 = sc.start + 6 * 3600
    return sc, t0, t0 + 1200


def write_log(path: Path, sc: Scenario, t0: float, t1: float, noise: bool = False) -> list[str]:
    lines = [line for _, line in NmeaSimulator(sc).sentences(t0, t1)]
    if noise:
        lines[5:5] = ["garbage", lines[7][:-2] + "00", lines[9][:25]]
    path.write_text("\n".join(lines) + "\n")
    return lines


def counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) for t in (Vessel, AISPosition, PositionRange))


def test_file_to_postgres_stores_truthful_positions_vessels_and_ranges(settings, world, tmp_path) -> None:
    sc, t0, t1 = world
    write_log(tmp_path / "ais.log", sc, t0, t1, noise=True)
    pipeline = AisPipeline(engine_for(settings.database_url), None, "file")
    run(pipeline, FileSource(tmp_path / "ais.log", StopFlag()), StopFlag(), batch_size=500, batch_wait_s=0.05)
    assert dict(pipeline.decoder.rejected) == {"garbage": 1, "bad_checksum": 1, "truncated": 1}
    vessels = {v.mmsi: v for v in sc.vessels_between(t0, t1)}
    with session_scope(settings.database_url) as session:
        positions = session.execute(select(AISPosition).order_by(AISPosition.time)).scalars().all()
        stored_vessels = {v.mmsi: v for v in session.scalars(select(Vessel))}
        ranges = session.execute(select(PositionRange)).scalars().all()
    expected = [e for e in NmeaSimulator(sc).events(t0, t1) if e.msg_type in (1, 2, 3, 18)]
    assert len(positions) == len(expected)  # the broken copies were extra lines, all refused
    assert set(stored_vessels) == {e.mmsi for e in expected}
    for p in positions[::25]:
        truth = vessels[p.mmsi].state(p.time.timestamp())
        assert abs(p.latitude - truth.latitude) < 2e-6 and abs(p.longitude - truth.longitude) < 2e-6
        assert p.source == "file" and p.msg_type in (1, 2, 3, 18)
    with_static = [v for v in stored_vessels.values() if v.name is not None]
    assert with_static
    for v in with_static:
        truth = vessels[v.mmsi]
        assert (v.name, v.ship_type, v.length_m) == (truth.name, truth.ship_type, round(truth.length_m))
        assert v.ship_type_text and v.first_seen <= v.last_seen
    # Ranges: every position from both hydrophones, geodesic, the distance the scenario itself computes.
    assert len(ranges) == 2 * len(positions)
    by_position = {(r.position_id, r.hydrophone_id): r for r in ranges}
    sites = {
        s.id: s for s in (Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon), SECOND_SITE)
    }
    for p in positions[::25]:
        for site_id, site in sites.items():
            r = by_position[(p.id, site_id)]
            assert r.distance_m == pytest.approx(
                float(distance_m(site, np.array([p.latitude]), np.array([p.longitude]))[0]), abs=0.01
            )
            azimuth = GEOD.inv(site.longitude, site.latitude, p.longitude, p.latitude)[0] % 360
            assert r.bearing_deg == pytest.approx(azimuth) and (r.mmsi, r.time) == (p.mmsi, p.time)


def test_replaying_the_feed_after_a_restart_duplicates_nothing(settings, world, tmp_path) -> None:
    sc, t0, t1 = world
    write_log(tmp_path / "ais.log", sc, t0, t0 + 600)
    first = AisPipeline(engine_for(settings.database_url), None, "file")
    run(first, FileSource(tmp_path / "ais.log", StopFlag()), StopFlag(), batch_size=300, batch_wait_s=0.05)
    before = counts(settings.database_url)
    assert before[1] == first.totals["stored"] > 0
    restarted = AisPipeline(engine_for(settings.database_url), None, "file")
    run(restarted, FileSource(tmp_path / "ais.log", StopFlag()), StopFlag(), batch_size=300, batch_wait_s=0.05)
    assert counts(settings.database_url) == before
    assert restarted.totals["stored"] == 0 and restarted.totals["reports"] == first.totals["reports"]


def test_static_data_merges_and_a_missing_field_never_erases_one(settings, world) -> None:
    sc, t0, _ = world
    engine = engine_for(settings.database_url)
    sites = [Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon)]
    store_reports(
        engine,
        [StaticReport(1, t0, name="SEA WITCH"), PositionReport(1, t0 + 5, 36.7, -122.2, 5.0, 10.0, None, None, 18)],
        "test",
        sites,
    )
    store_reports(engine, [StaticReport(1, t0 - 50, ship_type=37, call_sign="WX1", length_m=12.0)], "test", sites)
    with session_scope(settings.database_url) as session:
        v = session.get(Vessel, 1)
    assert (v.name, v.ship_type, v.ship_type_text, v.call_sign, v.length_m) == (
        "SEA WITCH",
        37,
        "Pleasure craft",
        "WX1",
        12.0,
    )
    assert v.first_seen.timestamp() == t0 - 50 and v.last_seen.timestamp() == t0 + 5
    rows = vessel_rows([StaticReport(2, 10, name="B"), StaticReport(2, 5, name="A", imo=7)])
    assert (rows[0]["name"], rows[0]["imo"]) == ("B", 7)  # the later report wins, per field


def test_new_positions_are_published_to_kafka_keyed_by_mmsi(settings, world, new_topic) -> None:
    sc, t0, _ = world
    topic = new_topic("ais")
    outbox = PublishQueue(Publisher(settings), topic)
    pipeline = AisPipeline(engine_for(settings.database_url), outbox, "simulator")
    lines = [(line.encode(), t) for t, line in NmeaSimulator(sc).sentences(t0, t0 + 300)]
    run(pipeline, lines + lines, StopFlag(), batch_size=200, batch_wait_s=0.05)  # the repeat publishes nothing
    outbox.close(timeout_s=30)
    assert outbox.published == pipeline.totals["stored"] and outbox.pending == 0
    stored = pipeline.totals["stored"]
    assert stored == counts(settings.database_url)[1] > 0
    consumer = make_consumer(settings, "test-ais", topic)
    messages = []
    deadline = dt.datetime.now() + dt.timedelta(seconds=30)
    while len(messages) < stored and dt.datetime.now() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            messages.extend(batch)
    consumer.close()
    assert len(messages) == stored
    decoded = [(r.key, PositionMessage.decode(r.value)) for r in messages]
    assert all(key == str(m.mmsi).encode() for key, m in decoded)
    with session_scope(settings.database_url) as session:
        rows = {(p.mmsi, p.time.timestamp()): p for p in session.scalars(select(AISPosition))}
        types = dict(session.execute(select(Vessel.mmsi, Vessel.ship_type)).all())
    for _, m in decoded:
        row = rows[(m.mmsi, m.time_ms / 1000)]
        assert (m.latitude, m.longitude, m.msg_type, m.source) == (
            row.latitude,
            row.longitude,
            row.msg_type,
            "simulator",
        )
        assert set(m.distances_m) == {settings.hydrophone.id, SECOND_SITE.id}
        assert m.ship_type == types[m.mmsi] or m.ship_type is None


def test_positions_are_stored_while_the_broker_is_away_and_published_when_it_returns(settings, world, broker) -> None:
    """The broker is not waited for: with it gone, the feed is stored in full and `run` ends as the
    source does; once a restarted broker (memory storage: the old producer id is unknown there) is
    back, every queued position reaches the topic, each once."""
    sc, t0, _ = world
    settings = settings.updated(kafka={"bootstrap_servers": broker.bootstrap})
    topic = new_topic_on(broker)
    outbox = PublishQueue(Publisher(settings, attempts=1, **FAST_FAIL_TIMEOUTS), topic, retry_max_s=1.0)
    pipeline = AisPipeline(engine_for(settings.database_url), outbox, "simulator")

    def feed(a: float, b: float) -> None:
        lines = [(line.encode(), t) for t, line in NmeaSimulator(sc).sentences(a, b)]
        fed = threading.Thread(target=run, args=(pipeline, lines, StopFlag()), kwargs={"batch_wait_s": 0.05})
        fed.start()
        fed.join(timeout=60)
        assert not fed.is_alive(), "the AIS loop waited for the broker"

    try:
        feed(t0, t0 + 300)
        assert outbox.drain(30) and outbox.published == pipeline.totals["stored"] > 0
        broker.stop()
        feed(t0 + 300, t0 + 600)
        away = pipeline.totals["stored"] - outbox.published
        assert away > 0 and counts(settings.database_url)[1] == pipeline.totals["stored"]
        assert outbox.pending == away  # stored, queued, not lost
        restart(broker, 1, (topic,))
        assert outbox.drain(60), f"{outbox.pending} positions still queued"
        assert outbox.failures >= 1 and outbox.dropped == 0
    finally:
        outbox.close(timeout_s=5)
    consumer = make_consumer(settings, "test-ais-away", topic, consumer_timeout_ms=8000)
    keys = [(m.mmsi, m.time_ms) for m in (PositionMessage.decode(r.value) for r in consumer)]
    consumer.close()
    with session_scope(settings.database_url) as session:
        later = {
            (p.mmsi, int(p.time.timestamp() * 1000))
            for p in session.scalars(
                select(AISPosition).where(AISPosition.time >= dt.datetime.fromtimestamp(t0 + 300, dt.timezone.utc))
            )
        }
    assert len(keys) == len(set(keys)) == away and set(keys) == later


def new_topic_on(broker) -> str:
    topic = f"ais.away.{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, 1, (topic,))
    return topic


def test_sources_are_chosen_by_configuration(settings, tmp_path) -> None:
    stop = StopFlag()
    assert isinstance(open_source(settings, stop), SimulatorSource)
    assert isinstance(open_source(settings.updated(ais={"source": "tcp"}), stop), TcpSource)
    udp = open_source(settings.updated(ais={"source": "udp", "udp_host": "127.0.0.1", "udp_port": 0}), stop)
    assert isinstance(udp, UdpSource)
    udp.sock.close()
    assert isinstance(open_source(settings.updated(ais={"source": "file", "file": "x"}), stop), FileSource)
    assert isinstance(open_source(settings.updated(ais={"source": "http", "http_url": "http://h/"}), stop), HttpSource)
    for bad in ({"source": "carrier-pigeon"}, {"source": "file"}, {"source": "http"}):
        with pytest.raises(ValueError):
            open_source(settings.updated(ais=bad), stop)


def test_the_simulator_source_fills_the_database_faster_than_real_time(settings, world) -> None:
    import threading
    import time

    from oceanwatch.sim.clock import SimClock

    now = time.time()
    sc = Scenario(seed=5, vessels_per_hour=20, start=dt.datetime.fromtimestamp(now - 6 * 3600, dt.timezone.utc))
    clock = SimClock(anchor=now, speed=300.0)
    stop = StopFlag()
    pipeline = AisPipeline(engine_for(settings.database_url), None, "simulator")
    thread = threading.Thread(
        target=run,
        args=(pipeline, SimulatorSource(NmeaSimulator(sc), clock, stop), stop),
        kwargs={"batch_wait_s": 0.1},
        daemon=True,
    )
    thread.start()
    time.sleep(2.0)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    vessels = {v.mmsi: v for v in sc.vessels_between(now, clock.now())}
    with session_scope(settings.database_url) as session:
        positions = session.scalars(select(AISPosition)).all()
    span = max(p.time for p in positions) - min(p.time for p in positions)
    assert span.total_seconds() >= 300  # two wall seconds covered minutes of simulated traffic
    for p in positions:
        truth = vessels[p.mmsi].state(p.time.timestamp())
        assert abs(p.latitude - truth.latitude) < 2e-6 and abs(p.longitude - truth.longitude) < 2e-6


def test_the_service_entry_point_runs_a_configured_source_to_its_end(settings, tmp_path) -> None:
    from ais_stream.__main__ import main

    sc = Scenario(seed=8, vessels_per_hour=10)
    write_log(tmp_path / "feed.nmea", sc, sc.start + 7200, sc.start + 7500)
    main(
        settings.updated(
            ais={"source": "file", "file": str(tmp_path / "feed.nmea"), "file_follow": False, "batch_wait_s": 0.05}
        ),
        StopFlag(),
    )
    events = NmeaSimulator(sc).events(sc.start + 7200, sc.start + 7500)
    vessels, positions, ranges = counts(settings.database_url)
    assert positions == sum(e.msg_type in (1, 2, 3, 18) for e in events) > 0
    assert ranges == positions  # the configured hydrophone was created by the service
    assert vessels == len({e.mmsi for e in events})


def test_a_database_outage_keeps_the_batch_until_the_database_is_back(stack_env, settings, world) -> None:
    import threading
    import time
    import uuid

    from conftest import create_database, drop_database
    from sqlalchemy.engine import make_url

    from oceanwatch.db.migrate import upgrade

    sc, t0, _ = world
    server = stack_env["DATABASE_URL"]
    name = f"ow_late_{uuid.uuid4().hex[:8]}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    site = Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon)
    pipeline = AisPipeline(engine_for(url), None, "simulator", sites=[site])
    lines = [(line.encode(), t) for t, line in NmeaSimulator(sc).sentences(t0, t0 + 120)]
    thread = threading.Thread(target=run, args=(pipeline, lines, StopFlag()), daemon=True)
    thread.start()
    time.sleep(1.5)  # the database does not exist yet: writes fail and are retried
    assert thread.is_alive()
    try:
        create_database(server, name)
        upgrade(url)
        with session_scope(url) as session:
            ensure_default_hydrophone(session, settings)
        thread.join(60)
        assert not thread.is_alive()
        expected = sum(e.msg_type in (1, 2, 3, 18) for e in NmeaSimulator(sc).events(t0, t0 + 120))
        assert counts(url)[1:] == (expected, expected)
    finally:
        drop_database(server, name)


def test_a_hydrophone_added_later_gets_the_ranges_of_earlier_positions(settings, world) -> None:
    sc, t0, _ = world
    with session_scope(settings.database_url) as session:
        session.execute(delete(PositionRange))
        session.execute(delete(Hydrophone).where(Hydrophone.id == SECOND_SITE.id))
    pipeline = AisPipeline(engine_for(settings.database_url), None, "simulator")
    pipeline.SITES_REFRESH_S = 0.0  # look at the hydrophones on every batch
    lines = [(line.encode(), t) for t, line in NmeaSimulator(sc).sentences(t0, t0 + 120)]
    run(pipeline, lines, StopFlag(), batch_wait_s=0.05)
    _, positions, ranges = counts(settings.database_url)
    assert ranges == positions > 0
    with session_scope(settings.database_url) as session:
        session.add(
            Hydrophone(id=SECOND_SITE.id, name="north", latitude=SECOND_SITE.latitude, longitude=SECOND_SITE.longitude)
        )
    assert [s.id for s in pipeline.sites] == sorted([settings.hydrophone.id, SECOND_SITE.id])
    assert counts(settings.database_url)[2] == 2 * positions
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(AISPosition.latitude, AISPosition.longitude, PositionRange.distance_m)
            .join(PositionRange, PositionRange.position_id == AISPosition.id)
            .where(PositionRange.hydrophone_id == SECOND_SITE.id)
        ).all()
    lats, lons, dists = (np.array(c) for c in zip(*rows))
    assert np.allclose(dists, distance_m(SECOND_SITE, lats, lons), atol=0.01)


def test_array_literals_round_trip_through_postgres_exactly(settings) -> None:
    from sqlalchemy import text

    from ais_stream.store import pg_array

    texts = ["MARS", 'a "quoted", {braced} \\ id', "", "NULL", None]
    floats = [36.712345678901234, -1e-07, 123456.5, None]
    times = [dt.datetime(2026, 1, 1, 5, 0, 0, 123457, tzinfo=dt.timezone.utc), None]
    with engine_for(settings.database_url).connect() as conn:
        for values, sql_type in ((texts, "varchar"), (floats, "float8"), (times, "timestamptz")):
            rows = conn.execute(text(f"select unnest(CAST(:a AS {sql_type}[]))"), {"a": pg_array(values)})
            assert [r[0] for r in rows] == values


def test_a_restarted_simulator_source_resumes_where_it_stopped(settings) -> None:
    import threading
    import time

    from ais_stream.__main__ import main

    fast = settings.updated(simulator={"speed": 300.0, "vessels_per_hour": 30.0}, ais={"batch_wait_s": 0.1})

    def run_for(seconds: float) -> None:
        stop = StopFlag()
        thread = threading.Thread(target=main, args=(fast, stop), daemon=True)
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join(20)
        assert not thread.is_alive()

    def stored_times() -> np.ndarray:
        with session_scope(settings.database_url) as session:
            return np.unique([t.timestamp() for t in session.scalars(select(AISPosition.time))])

    run_for(3.0)
    first_end = stored_times().max()
    time.sleep(2.0)  # down for 600 simulated seconds
    run_for(3.0)
    times = stored_times()
    assert times.max() > first_end + 60  # the second run stored new traffic
    assert np.diff(times).max() <= 30  # and left no hole where the service was down


def test_simulator_start_bounds() -> None:
    from ais_stream.service import simulator_start
    from oceanwatch.sim.clock import SimClock

    clock = SimClock(anchor=0.0, speed=1.0)
    now = clock.now()
    assert simulator_start(clock, None) == pytest.approx(now, abs=1)
    assert simulator_start(clock, now - 100) == now - 100
    assert simulator_start(clock, now - 10 * 86400, max_catch_up_s=3600) == pytest.approx(now - 3600, abs=1)
    assert simulator_start(clock, now + 100) == pytest.approx(now, abs=1)
