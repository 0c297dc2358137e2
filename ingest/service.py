"""Wiring of the ingest service: every active site's source -> pipeline -> Postgres + Kafka."""

from __future__ import annotations

import logging
import time

from kafka import KafkaProducer

from ingest.pipeline import Ingestor
from ingest.sites import SiteSources
from ingest.store import ActiveSpecs, WindowWriter
from oceanwatch.audio.clips import clips_root
from oceanwatch.audio.features import window_hop_seconds
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import FAST_FAIL_TIMEOUTS, WINDOWS_TOPIC, Publisher, ensure_topics, platform_topics
from oceanwatch.runtime.service import StopFlag

log = logging.getLogger(__name__)
SOURCES = ("simulator", "directory")  # what INGEST_SOURCE may name (a site's own source is checked on entry)
OUTBOX_EVERY_S = 5.0  # how often unpublished windows are retried while no new batch comes


def make_ingestor(settings: Settings, producer: KafkaProducer | Publisher, topic: str | None = None) -> Ingestor:
    """The pipeline writing to the settings' database and publishing to `topic` (default: the
    deployment's windows topic); a bare producer is wrapped in a Publisher."""
    clips = clips_root(settings.data_dir) if settings.ingest.clips else None
    publisher = producer if isinstance(producer, Publisher) else Publisher(settings, producer, **FAST_FAIL_TIMEOUTS)
    writer = WindowWriter(
        settings.require_database_url(), publisher, topic or settings.kafka.topic(WINDOWS_TOPIC), clips
    )
    return Ingestor(
        writer,
        ActiveSpecs(settings.database_url, settings.ingest.spec_refresh_s),
        settings.ingest.window_s,
        window_hop_seconds(settings.ingest.window_s),
        settings.ingest.batch_windows,
        settings.ingest.gap_tolerance_s,
    )


def run(settings: Settings, stop: StopFlag, report_every_s: float = 60.0) -> None:
    """The service loop until `stop` is set."""
    if settings.ingest.source not in SOURCES:
        raise ValueError(f"INGEST_SOURCE must be one of {SOURCES}, got {settings.ingest.source!r}")
    url = settings.require_database_url()
    upgrade(url)
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    ensure_topics(settings.require_kafka(), settings.kafka.partitions, platform_topics(settings))
    publisher = Publisher(settings, batch_size=512 * 1024, **FAST_FAIL_TIMEOUTS)  # a window message is ~40 kB per spec
    ingestor = make_ingestor(settings, publisher)
    ingestor.writer.start_outbox(OUTBOX_EVERY_S)  # at start: what a previous run stored but could not publish
    sources = SiteSources(settings, ingestor, stop)
    last_report = time.monotonic()

    def report(force: bool = False) -> None:
        nonlocal last_report
        if force or time.monotonic() - last_report >= report_every_s:
            log.info(
                "ingest: %s",
                dict(ingestor.counts),
                extra={"sites": sources.served(), "assemblers": ingestor.assembler_stats()},
            )
            last_report = time.monotonic()

    try:
        while not stop.is_set():
            if not sources.step():
                stop.wait(max(0.01, min(sources.wait_s(), settings.ingest.poll_s)))
            report()
    finally:
        try:
            ingestor.close()
        finally:
            ingestor.writer.close()
            publisher.close()
        report(force=True)
