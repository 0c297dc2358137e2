"""The ingest service as it runs: simulator and directory sources through `ingest.service.run`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from ingest.service import make_ingestor, run
from ingest.simulator import SimulatorSource, chunk_audio
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel, Spectrogram, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import make_producer
from oceanwatch.registry import store as registry
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.scenario import DEFAULT_SITE, Scenario
from oceanwatch.sites.spec import DirectoryAudio
from oceanwatch.testing.waiting import wait_for
from tests.modelkit import TINY_SPEC, manifest, tiny_model, write_package


def test_simulated_chunks_are_reproducible() -> None:
    scenario = Scenario(seed=3)
    a = chunk_audio(scenario, DEFAULT_SITE, 78_000_000, 22.5, 8000)
    assert a.shape == (180_000,) and a.dtype == np.float32
    assert np.array_equal(a, chunk_audio(Scenario(seed=3), DEFAULT_SITE, 78_000_000, 22.5, 8000))
    assert not np.array_equal(a, chunk_audio(scenario, DEFAULT_SITE, 78_000_001, 22.5, 8000))


def stored(settings: Settings) -> list[Window]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Window).order_by(Window.start_time)))


@pytest.mark.integration
def test_simulator_source_follows_the_sim_clock_into_windows(settings: Settings, new_topic) -> None:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    scenario = Scenario(seed=settings.simulator.seed)
    stop = StopFlag()
    clock = SimClock(anchor=time.time(), speed=2000.0)  # 22.5 simulated seconds every ~11 ms
    source = SimulatorSource(scenario, DEFAULT_SITE, clock, stop, 8000, 22.5, 30.0)
    producer = make_producer(settings)
    ingestor = make_ingestor(settings, producer, new_topic("sim"))
    t_start = clock.now()
    for k, segment in enumerate(source):
        assert segment.end <= clock.now() + 1e-6  # never audio from the simulated future
        ingestor.feed(segment)
        if k == 5:
            break
    ingestor.flush()
    producer.close()
    rows = stored(settings)
    starts = [r.start_time.timestamp() for r in rows]
    assert len(rows) == 5 and all(r.source == "simulator" for r in rows)
    assert all((s / 22.5).is_integer() for s in starts) and np.allclose(np.diff(starts), 22.5)
    assert starts[0] >= t_start - 30.0 - 22.5


@pytest.mark.integration
@pytest.mark.parametrize("source", ["simulator", "directory"])
def test_the_service_runs_each_source_until_stopped(settings: Settings, source: str) -> None:
    settings = settings.updated(ingest={"source": source, "poll_s": 0.2, "stable_s": 0.3}, simulator={"speed": 500.0})
    if source == "directory":
        watched, _, archive = DirectoryAudio.from_settings(settings).dirs()
        watched.mkdir(parents=True)
        start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
        sf.write(
            watched / f"MARS_{start:%Y%m%dT%H%M%S}.flac",
            np.random.default_rng(0).normal(0, 0.1, 8000 * 60).astype(np.float32),
            8000,
        )
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(stored(settings)) >= 2 or not thread.is_alive())
        assert thread.is_alive(), "the service stopped by itself"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert {w.source for w in stored(settings)} == {"simulator" if source == "simulator" else "file"}
    if source == "directory":
        assert [p.name for p in archive.iterdir()] == ["MARS_20261101T000000.flac"]


@pytest.mark.integration
def test_a_spec_ingest_cannot_compute_costs_only_its_own_model(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    models_dir = settings.data_dir / "models"
    good_pkg = write_package(tmp_path / "good", tiny_model(), manifest(name="good"))
    bad_spec = dataclasses.replace(TINY_SPEC, window="boxcar; rm -rf /")
    legacy = manifest(name="legacy", spec=bad_spec)
    bad_pkg = write_package(tmp_path / "bad", tiny_model(bad_spec), legacy)
    with session_scope(settings.database_url) as session:
        good = registry.register(session, models_dir, good_pkg / "model.keras", manifest(name="good"))
        with monkeypatch.context() as registry_before_the_check:  # registered before registration computed specs
            registry_before_the_check.setattr(registry, "check_computes", lambda spec: None, raising=False)
            bad = registry.register(session, models_dir, bad_pkg / "model.keras", legacy)
        for model_id in (good, bad):
            registry.deploy(session, model_id)

    settings = settings.updated(ingest={"source": "directory", "poll_s": 0.2, "stable_s": 0.3})
    watched, _, archive = DirectoryAudio.from_settings(settings).dirs()
    watched.mkdir(parents=True)
    sf.write(
        watched / "MARS_20261101T000000.flac",
        np.random.default_rng(0).normal(0, 0.1, 8000 * 60).astype(np.float32),
        8000,
    )
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
    with caplog.at_level(logging.INFO, logger="ingest.service"):
        thread.start()
        try:
            assert wait_for(lambda: (archive / "MARS_20261101T000000.flac").exists() or not thread.is_alive())
            assert thread.is_alive(), "the service stopped by itself"
        finally:
            stop.set()
            thread.join(30)
    windows = stored(settings)
    assert len(windows) == 2  # 0-30 s and 22.5-52.5 s of the minute
    with session_scope(settings.database_url) as session:
        specs = session.execute(select(Spectrogram.window_id, Spectrogram.spec_hash)).all()
        health = {m.id: (m.status, m.healthy, m.last_error) for m in session.scalars(select(MLModel))}
    assert sorted(specs) == sorted((w.id, TINY_SPEC.hash) for w in windows)
    assert health[good] == ("active", True, None)
    status, healthy, reason = health[bad]
    assert (status, healthy) == ("active", False)
    assert "ingest cannot compute its features" in reason and "Invalid window name 'boxcar; rm -rf /'" in reason
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ingest: ")]
    assert reports and "'feature_spec_failures': 1" in reports[-1]  # once, not once per batch


def test_an_unknown_source_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="INGEST_SOURCE"):
        run(settings.updated(ingest={"source": "tape"}), StopFlag())


def test_the_simulator_says_when_it_is_behind_simulated_time() -> None:
    stop = StopFlag()
    clock = SimClock(anchor=time.time() - 10.0, speed=1.0)
    live = SimulatorSource(Scenario(seed=0), DEFAULT_SITE, clock, stop, 800, 22.5, 30.0)
    behind = SimulatorSource(Scenario(seed=0), DEFAULT_SITE, clock, stop, 800, 22.5, 600.0)
    next(iter(behind))
    assert not behind.caught_up()  # ten minutes of chunks are already due: batch them
    chunks = iter(live)
    for _ in range(2):  # the 30 s look-back is at most two chunks; neither waits, both are due
        next(chunks)
        if live.caught_up():
            break
    assert live.caught_up()  # live: the next chunk is in the simulated future
