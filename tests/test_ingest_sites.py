"""One ingest process serves every active site (or its shard of them), and follows the Sites page without restart."""

from __future__ import annotations

import datetime as dt
import threading
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from ingest.service import make_ingestor, run
from ingest.sites import SiteSources
from oceanwatch.audio.features import window_grid_step
from oceanwatch.config import IngestSettings, Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Spectrogram, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import make_producer
from oceanwatch.runtime.embedded import free_port
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.clock import SimClock
from oceanwatch.sites.store import create_site, update_site
from oceanwatch.testing.waiting import wait_for

pytestmark = pytest.mark.integration


def windows_by_site(settings: Settings) -> dict[str, int]:
    with session_scope(settings.database_url) as session:
        return dict(session.execute(select(Window.hydrophone_id, func.count()).group_by(Window.hydrophone_id)).all())


def add_site(settings: Settings, site_id: str, lat: float, lon: float) -> None:
    with session_scope(settings.database_url) as session:
        create_site(
            session,
            site_id,
            {"name": site_id, "latitude": lat, "longitude": lon, "source": {"kind": "simulator"}},
            None,
        )


def test_every_active_site_is_ingested_and_added_or_removed_sites_are_followed(settings: Settings) -> None:
    settings = settings.updated(ingest={"sites_refresh_s": 0.3}, simulator={"speed": 300.0})
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)  # no source of its own: INGEST_SOURCE=simulator
    add_site(settings, "MOSS", 36.776, -122.108)
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
    thread.start()
    try:
        both = {settings.hydrophone.id, "MOSS"}
        assert wait_for(lambda: both <= {s for s, n in windows_by_site(settings).items() if n >= 3}, 60)

        add_site(settings, "SCRUZ", 36.904, -122.267)  # while it runs
        with session_scope(settings.database_url) as session:
            update_site(session, "MOSS", {"active": False}, None)
        assert wait_for(lambda: windows_by_site(settings).get("SCRUZ", 0) >= 3, 60), "an added site is served"
        time.sleep(1.0)  # several refreshes: MOSS is no longer served
        moss, scruz = windows_by_site(settings)["MOSS"], windows_by_site(settings)["SCRUZ"]
        assert wait_for(lambda: windows_by_site(settings)["SCRUZ"] >= scruz + 10, 60)
        assert windows_by_site(settings)["MOSS"] <= moss + 1, "a deactivated site is no longer ingested"
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(30)
    with session_scope(settings.database_url) as session:
        first = session.execute(
            select(Window.start_time, Window.hydrophone_id, Spectrogram.data)
            .join(Spectrogram, Spectrogram.window_id == Window.id)
            .where(Window.hydrophone_id.in_([settings.hydrophone.id, "MOSS"]))
            .order_by(Window.start_time)
        ).all()
    by_start: dict = {}
    for start, site, data in first:
        by_start.setdefault(start, {})[site] = data
    shared = [v for v in by_start.values() if len(v) == 2]
    assert shared, "the two sites' windows share the global grid"
    assert all(v[settings.hydrophone.id] != v["MOSS"] for v in shared), "each site hears its own audio"
    assert np.all(np.diff(sorted(s.timestamp() for s in by_start)) > 0)


def test_two_ingest_shards_serve_every_site_once_between_them(settings: Settings) -> None:
    """INGEST_SHARD_COUNT=2: each process serves its share of the sites, together all of them, none twice."""
    settings = settings.updated(ingest={"sites_refresh_s": 0.3}, simulator={"speed": 300.0})
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    for k in range(5):
        add_site(settings, f"S{k}", 36.7 + 0.02 * k, -122.1)
    everyone = {settings.hydrophone.id} | {f"S{k}" for k in range(5)}
    shards = [settings.updated(ingest={"shard_count": 2, "shard_index": i}) for i in range(2)]
    served = []
    for shard in shards:
        sources = SiteSources(shard, make_ingestor(shard, make_producer(shard)), StopFlag())
        sources.refresh(force=True)
        served.append(set(sources.simulated))
    assert served[0] and served[1] and served[0].isdisjoint(served[1]) and served[0] | served[1] == everyone

    stop = StopFlag()
    threads = [threading.Thread(target=run, args=(shard, stop), daemon=True) for shard in shards]
    try:
        for thread, share in zip(threads, served):
            thread.start()  # one after the other: each runs the migrations at start (processes, in production)
            assert wait_for(lambda: share <= set(windows_by_site(settings)), 60)  # noqa: B023  # waited on here
        assert wait_for(lambda: everyone <= {s for s, n in windows_by_site(settings).items() if n >= 3}, 90)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    with pytest.raises(ValueError, match="INGEST_SHARD_INDEX"):
        IngestSettings(shard_count=2, shard_index=2)


def test_a_database_outage_keeps_the_known_sites_served(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    add_site(settings, "MOSS", 36.776, -122.108)
    sources = SiteSources(settings, make_ingestor(settings, make_producer(settings)), StopFlag())
    sources.refresh(force=True)
    assert set(sources.simulated) == {settings.hydrophone.id, "MOSS"}
    sources.url = f"postgresql+psycopg2://127.0.0.1:{free_port()}/nowhere"  # Postgres gone, as while it restarts
    sources.refresh(force=True)
    assert set(sources.simulated) == {settings.hydrophone.id, "MOSS"}, "nothing stops for want of the sites table"
    assert "could not read the sites" in caplog.text


def test_a_simulated_window_is_stored_as_soon_as_its_end_has_passed(settings: Settings) -> None:
    """The simulator delivers audio in grid steps (7.5 s), so a window waits for no audio after its end:
    in chunks of one hop it waited up to 15 s for the chunk holding its end."""
    speed = 5.0
    anchor = time.time()
    settings = settings.updated(
        simulator={"speed": speed, "anchor": dt.datetime.fromtimestamp(anchor, dt.timezone.utc).isoformat()}
    )
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    clock = SimClock(anchor, speed)
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
    thread.start()
    began = dt.datetime.fromtimestamp(clock.now(), dt.timezone.utc)
    try:

        def live_windows() -> list[tuple[dt.datetime, dt.datetime]]:
            with session_scope(settings.database_url) as session:
                return list(
                    session.execute(select(Window.end_time, Window.created_at).where(Window.end_time > began)).all()
                )

        assert wait_for(lambda: len(live_windows()) >= 3, 60)
    finally:
        stop.set()
        thread.join(30)
    lags = [(stored.timestamp() - clock.wall_time(end.timestamp())) * speed for end, stored in live_windows()]
    assert max(lags) < window_grid_step(settings.ingest.window_s), (
        f"simulated seconds from window end to stored: {lags}"
    )
