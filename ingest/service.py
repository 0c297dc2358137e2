"""Wiring of the ingest service: settings -> source -> pipeline -> Postgres + Kafka."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kafka import KafkaProducer

from ingest.directory import DirectorySource
from ingest.pipeline import Ingestor
from ingest.simulator import SimulatorSource
from ingest.store import ActiveSpecs, WindowWriter, last_window_start
from oceanwatch.audio.clips import clips_root
from oceanwatch.audio.features import window_hop_seconds
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.geo import Site
from oceanwatch.kafka import FAST_FAIL_TIMEOUTS, WINDOWS_TOPIC, Publisher, ensure_topics
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.scenario import Scenario

log = logging.getLogger(__name__)
SOURCES = ("simulator", "directory")
OUTBOX_EVERY_S = 5.0  # how often unpublished windows are retried while no new batch comes


def ingest_dirs(settings: Settings) -> tuple[Path, Path, Path]:
    """(watched, quarantine, archive) directories with their defaults applied."""
    watched = Path(settings.ingest.dir) if settings.ingest.dir else settings.data_dir / "incoming"
    quarantine = Path(settings.ingest.quarantine_dir) if settings.ingest.quarantine_dir else watched / "quarantine"
    archive = Path(settings.ingest.archive_dir) if settings.ingest.archive_dir else watched / "ingested"
    return watched, quarantine, archive


def make_ingestor(settings: Settings, producer: KafkaProducer | Publisher, topic: str = WINDOWS_TOPIC) -> Ingestor:
    """The pipeline writing to the settings' database; a bare producer is wrapped in a Publisher."""
    clips = clips_root(settings.data_dir) if settings.ingest.clips else None
    publisher = producer if isinstance(producer, Publisher) else Publisher(settings, producer, **FAST_FAIL_TIMEOUTS)
    writer = WindowWriter(settings.require_database_url(), publisher, topic, clips)
    return Ingestor(
        writer,
        ActiveSpecs(settings.database_url, settings.ingest.spec_refresh_s),
        settings.ingest.window_s,
        window_hop_seconds(settings.ingest.window_s),
        settings.ingest.batch_windows,
        settings.ingest.gap_tolerance_s,
    )


def make_directory_source(settings: Settings, ingestor: Ingestor) -> DirectorySource:
    watched, quarantine, archive = ingest_dirs(settings)
    return DirectorySource(
        settings.require_database_url(),
        ingestor,
        watched,
        quarantine,
        archive,
        settings.hydrophone.id,
        settings.ingest.filename_pattern,
        settings.ingest.time_format,
        settings.ingest.stable_s,
        align=settings.ingest.align,
        align_by_hydrophone=settings.ingest.align_by_hydrophone,
    )


def run(settings: Settings, stop: StopFlag, report_every_s: float = 60.0) -> None:
    """The service loop until `stop` is set."""
    if settings.ingest.source not in SOURCES:
        raise ValueError(f"INGEST_SOURCE must be one of {SOURCES}, got {settings.ingest.source!r}")
    url = settings.require_database_url()
    upgrade(url)
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    ensure_topics(settings.require_kafka(), settings.kafka.partitions)
    publisher = Publisher(settings, batch_size=512 * 1024, **FAST_FAIL_TIMEOUTS)  # a window message is ~40 kB per spec
    ingestor = make_ingestor(settings, publisher)
    ingestor.writer.start_outbox(OUTBOX_EVERY_S)  # at start: what a previous run stored but could not publish
    last_report = time.monotonic()

    def report(force: bool = False) -> None:
        nonlocal last_report
        if force or time.monotonic() - last_report >= report_every_s:
            log.info("ingest: %s", dict(ingestor.counts), extra={"assemblers": ingestor.assembler_stats()})
            last_report = time.monotonic()

    try:
        if settings.ingest.source == "simulator":
            scenario = Scenario(
                seed=settings.simulator.seed,
                vessels_per_hour=settings.simulator.vessels_per_hour,
                sites=(Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon),),
            )
            clock = SimClock.from_settings(settings.simulator.anchor, settings.simulator.speed)
            # Resume after the last stored window, however long ingest was away: no gap in the windows.
            resume_from = last_window_start(url, settings.hydrophone.id)
            source = SimulatorSource(
                scenario,
                scenario.sites[0],
                clock,
                stop,
                settings.ingest.sim_sample_rate,
                window_hop_seconds(settings.ingest.window_s),
                settings.ingest.window_s,
                resume_from=resume_from,
            )
            log.info(
                "simulating hydrophone %s at %.0f Hz, speed %gx, from %s",
                settings.hydrophone.id,
                settings.ingest.sim_sample_rate,
                settings.simulator.speed,
                resume_from,
            )
            for segment in source:
                ingestor.feed(segment)
                if source.caught_up():
                    ingestor.flush(wait=False)  # live: windows go out as soon as a chunk completes them
                report()
        else:
            directory = make_directory_source(settings, ingestor)
            log.info("watching %s for WAV/FLAC files", directory.directory)
            while not stop.is_set():
                directory.poll()
                report()
                stop.wait(settings.ingest.poll_s)
    finally:
        try:
            ingestor.close()
        finally:
            ingestor.writer.close()
            publisher.close()
        report(force=True)
