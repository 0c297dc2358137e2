"""Wiring of the ingest service: settings -> source -> pipeline -> Postgres + Kafka."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from oceanwatch.clips import clips_root
from oceanwatch.config import Settings
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.features import window_hop_seconds
from oceanwatch.kafka import WINDOWS_TOPIC, ensure_topics, make_producer
from oceanwatch.scenario import Scenario, Site
from oceanwatch.service import StopFlag
from oceanwatch.simclock import SimClock
from ingest.directory import DirectorySource
from ingest.pipeline import Ingestor
from ingest.simulator import SimulatorSource
from ingest.store import ActiveSpecs, WindowWriter

log = logging.getLogger(__name__)
SOURCES = ("simulator", "directory")


def ingest_dirs(settings: Settings) -> tuple[Path, Path, Path]:
    """(watched, quarantine, archive) directories with their defaults applied."""
    watched = Path(settings.ingest_dir) if settings.ingest_dir else settings.data_dir / "incoming"
    quarantine = Path(settings.ingest_quarantine_dir) if settings.ingest_quarantine_dir else watched / "quarantine"
    archive = Path(settings.ingest_archive_dir) if settings.ingest_archive_dir else watched / "ingested"
    return watched, quarantine, archive


def make_ingestor(settings: Settings, producer, topic: str = WINDOWS_TOPIC) -> Ingestor:
    clips = clips_root(settings.data_dir) if settings.ingest_clips else None
    writer = WindowWriter(settings.require_database_url(), producer, topic, clips)
    return Ingestor(writer, ActiveSpecs(settings.database_url, settings.ingest_spec_refresh_s),
                    settings.ingest_window_s, window_hop_seconds(settings.ingest_window_s),
                    settings.ingest_batch_windows, settings.ingest_gap_tolerance_s)


def make_directory_source(settings: Settings, ingestor: Ingestor) -> DirectorySource:
    watched, quarantine, archive = ingest_dirs(settings)
    return DirectorySource(settings.require_database_url(), ingestor, watched, quarantine, archive,
                           settings.hydrophone_id, settings.ingest_filename_pattern, settings.ingest_time_format,
                           settings.ingest_stable_s, align=settings.ingest_align,
                           align_by_hydrophone=settings.ingest_align_by_hydrophone)


def run(settings: Settings, stop: StopFlag, report_every_s: float = 60.0) -> None:
    """The service loop until `stop` is set."""
    if settings.ingest_source not in SOURCES:
        raise ValueError(f"INGEST_SOURCE must be one of {SOURCES}, got {settings.ingest_source!r}")
    url = settings.require_database_url()
    upgrade(url)
    ensure_default_hydrophone(url, settings)
    ensure_topics(settings.require_kafka(), settings.kafka_partitions)
    producer = make_producer(settings, batch_size=512 * 1024)  # a window message is ~40 kB per spec
    ingestor = make_ingestor(settings, producer)
    last_report = time.monotonic()

    def report(force: bool = False) -> None:
        nonlocal last_report
        if force or time.monotonic() - last_report >= report_every_s:
            log.info("ingest: %s", dict(ingestor.counts), extra={"assemblers": ingestor.assembler_stats()})
            last_report = time.monotonic()

    try:
        if settings.ingest_source == "simulator":
            scenario = Scenario(seed=settings.scenario_seed, vessels_per_hour=settings.scenario_vessels_per_hour,
                                sites=(Site(settings.hydrophone_id, settings.hydrophone_lat,
                                            settings.hydrophone_lon),))
            clock = SimClock.from_settings(settings.simulator_anchor, settings.simulator_speed)
            source = SimulatorSource(scenario, scenario.sites[0], clock, stop, settings.ingest_sim_sample_rate,
                                     window_hop_seconds(settings.ingest_window_s), settings.ingest_window_s)
            log.info("simulating hydrophone %s at %.0f Hz, speed %gx", settings.hydrophone_id,
                     settings.ingest_sim_sample_rate, settings.simulator_speed)
            # The first chunks re-create the last windows of a previous run; republish those in case
            # that run died between its commit and its publish (repeats are harmless downstream).
            ingestor.republish_existing = True
            for k, segment in enumerate(source):
                ingestor.feed(segment)
                if source.caught_up():
                    ingestor.flush(wait=False)  # live: windows go out as soon as a chunk completes them
                ingestor.republish_existing = k < 1
                report()
        else:
            directory = make_directory_source(settings, ingestor)
            log.info("watching %s for WAV/FLAC files", directory.directory)
            while not stop.is_set():
                directory.poll()
                report()
                stop.wait(settings.ingest_poll_s)
    finally:
        ingestor.close()
        producer.flush()
        producer.close()
        report(force=True)
