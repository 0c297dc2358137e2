"""The simulated world stored the way the services store it: audio through the ingest service's own
ingestor, AIS through the AIS service's pipeline reading a receiver's log."""

from __future__ import annotations

from pathlib import Path

from ais_stream.service import AisPipeline, run
from ais_stream.sources import FileSource
from ingest.service import make_ingestor
from ingest.simulator import SimulatorSource
from oceanwatch.audio.features import window_grid_step
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import make_producer
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.nmea import NmeaSimulator
from oceanwatch.sim.scenario import Scenario
from oceanwatch.truth.labeller import Labeller

WORLD = Scenario(seed=2, vessels_per_hour=3)  # a few passing ships: windows with and without truth
WORLD_T0 = WORLD.start + 10 * 3600


def ingest_simulated(settings: Settings, topic: str, scenario: Scenario, start: float, end: float) -> None:
    """The scenario's audio from about `start` to `end` (UNIX s) as the running ingest service writes it:
    windows, spectrograms, FLAC clips under DATA_DIR/clips and Kafka messages.

    The source's clock stands (all but) still at `end`, so every chunk before it is due at once
    and the test never waits for simulated time.
    """
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    clock = SimClock(anchor=end, speed=1e-9)
    source = SimulatorSource(
        scenario,
        scenario.sites[0],
        clock,
        StopFlag(),
        settings.ingest.sim_sample_rate,
        window_grid_step(settings.ingest.window_s),
        end - start,
    )
    producer = make_producer(settings)
    ingestor = make_ingestor(settings, producer, topic)
    try:
        for segment in source:
            ingestor.feed(segment)
            if source.caught_up():
                break
    finally:
        ingestor.close()
        producer.close()


def store_simulated_ais(settings: Settings, scenario: Scenario, start: float, end: float, log: Path) -> None:
    """The scenario's AIS from `start` to `end` written as a receiver logs it, then read by the AIS
    service's file source into vessels, positions and ranges (hydrophones first, so ranges are measured)."""
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    log.write_text("\n".join(line for _, line in NmeaSimulator(scenario).sentences(start, end)) + "\n")
    pipeline = AisPipeline(engine_for(settings.database_url), None, FileSource.name)
    run(pipeline, FileSource(log, StopFlag()), StopFlag(), batch_wait_s=0.05)


def labelled_world(settings: Settings, topic: str, log_dir: Path) -> Labeller:
    """WORLD's windows stored by ingest, its AIS by the AIS pipeline, truth by one pass of the labeller."""
    ingest_simulated(settings, topic, WORLD, WORLD_T0, WORLD_T0 + 480)
    store_simulated_ais(settings, WORLD, WORLD_T0 - 900, WORLD_T0 + 780, log_dir / "ais.log")
    labeller = Labeller.from_settings(settings)
    assert labeller.run_pass()["labelled"] > 0
    return labeller
