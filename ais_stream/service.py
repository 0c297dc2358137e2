"""The ais_stream service: a source feeds a queue; batches are decoded, stored, then published.

The source runs in its own thread (network and file waits never hold up writes); the main
loop takes up to `batch_size` items or whatever arrived within `batch_wait_s`, decodes them,
stores the batch in one transaction and hands the positions that were new to a publish queue
for `ais.positions`, keyed by MMSI.  A database failure keeps the batch and retries it with
backoff, so nothing decoded is dropped (the unique (mmsi, time) key makes a retry safe).  The
broker is never waited for: while it is away positions go on being stored, and the queue sends
them when it returns (Postgres is the record; the topic is the feed).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine

from ais_stream.decode import AISSTREAM_KINDS, AisDecoder, PositionReport, Report
from ais_stream.sources import (
    AisStreamSource,
    Backoff,
    FileSource,
    HttpSource,
    Item,
    SimulatorSource,
    Stop,
    TcpSource,
    UdpSource,
)
from ais_stream.store import StoredPosition, fill_missing_ranges, load_sites, store_reports
from oceanwatch.config import Settings
from oceanwatch.geo import Site, box_around
from oceanwatch.kafka import PublishQueue
from oceanwatch.messages import PositionMessage
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.nmea import NmeaSimulator
from oceanwatch.sim.scenario import scenario_from_settings

log = logging.getLogger(__name__)

SOURCES = ("simulator", "tcp", "udp", "file", "http", "aisstream")
MAX_CATCH_UP_S = 3600.0
_END = object()
T = TypeVar("T")


# Every field of a decoded report travels as is, except its time (epoch seconds -> milliseconds): derived
# from the dataclass, so a field added to PositionReport reaches the topic (or fails loudly) without a mapper.
_REPORT_FIELDS = tuple(f.name for f in fields(PositionReport) if f.name != "time")


def position_message(stored: StoredPosition, source: str) -> PositionMessage:
    """The `ais.positions` message of a stored position: its report, where it came from, its ranges."""
    report: PositionReport = stored.report
    return PositionMessage(
        time_ms=int(round(report.time * 1000)),
        source=source,
        ship_type=stored.ship_type,
        distances_m=stored.distances_m,
        **{name: getattr(report, name) for name in _REPORT_FIELDS},
    )


class AisPipeline:
    """Decode, store, publish: one batch at a time, with running totals."""

    SITES_REFRESH_S = 60.0

    def __init__(
        self, engine: Engine, outbox: PublishQueue | None, source: str, sites: list[Site] | None = None
    ) -> None:
        self.engine, self.outbox, self.source = engine, outbox, source
        self.decoder = AisDecoder()
        self.totals: Counter[str] = Counter()
        self._fixed_sites = sites
        self._sites: list[Site] = []
        self._sites_read = -math.inf

    @property
    def sites(self) -> list[Site]:
        """The hydrophones ranges are measured from, re-read every minute (a new one counts soon)."""
        if self._fixed_sites is not None:
            return self._fixed_sites
        if time.monotonic() - self._sites_read > self.SITES_REFRESH_S:
            with self.engine.connect() as conn:
                sites = load_sites(conn)
            known = {s.id for s in self._sites}
            for site in sites:
                if site.id not in known:  # at start, and when a hydrophone is added
                    added = fill_missing_ranges(self.engine, site)
                    if added:
                        log.info("measured %d earlier positions from hydrophone %s", added, site.id)
            self._sites, self._sites_read = sites, time.monotonic()
        return self._sites

    def decode(self, items: Iterable[Item]) -> list[Report]:
        reports: list[Report] = []
        decoder = self.decoder
        for payload, received_at in items:
            if isinstance(payload, bytes):
                reports.extend(decoder.feed(payload, received_at))
            else:  # a JSON record, or text an API sent that is not JSON (refused there)
                reports.extend(decoder.feed_record(payload, received_at))
        return reports

    def store(self, reports: list[Report]) -> list[StoredPosition]:
        """Write the batch (idempotent); returns the positions that were new."""
        stored = store_reports(self.engine, reports, self.source, self.sites)
        self.totals.update(reports=len(reports), stored=len(stored))
        return stored

    def publish(self, stored: list[StoredPosition]) -> None:
        """Queue the new positions for the broker (sent in the background; never waits for it)."""
        if self.outbox is None or not stored:
            return
        self.outbox.put([(str(s.report.mmsi).encode(), position_message(s, self.source).encode()) for s in stored])

    def store_and_publish(self, reports: list[Report]) -> list[StoredPosition]:
        stored = self.store(reports)
        self.publish(stored)
        return stored

    def summary(self) -> dict[str, object]:
        totals = dict(self.totals)
        if self.outbox is not None:
            totals.update(
                published=self.outbox.published,
                publish_pending=self.outbox.pending,
                publish_dropped=self.outbox.dropped,
                publish_failures=self.outbox.failures,
            )
        return {
            "totals": totals,
            "rejected": dict(self.decoder.rejected),
            "ignored": dict(self.decoder.ignored),
            "accepted": dict(self.decoder.accepted),
        }


def _pump(source: Iterable[Item], out: queue.Queue[object], stop: Stop) -> None:
    """Source thread: move items into the bounded queue (a full queue slows the source down)."""
    try:
        for item in source:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                break
    except Exception:
        log.exception("AIS source failed")
    finally:
        out.put(_END)


def _until_done(action: Callable[[], T], what: str, stop: Stop, backoff: Backoff) -> T | None:
    """`action()`, retried with backoff while it fails (Postgres or the broker may be back soon).

    Once stopping, one attempt is all: None means it was given up.
    """
    while True:
        try:
            result = action()
            backoff.reset()
            return result
        except Exception:
            if stop.is_set():
                log.exception("%s failed while stopping; given up", what)
                return None
            delay = backoff.next()
            log.exception("%s failed; retrying in %.1f s", what, delay)
            stop.wait(delay)


def run(
    pipeline: AisPipeline,
    source: Iterable[Item],
    stop: Stop,
    batch_size: int = 2000,
    batch_wait_s: float = 0.5,
    report_every_s: float = 60.0,
) -> None:
    """Feed `source` through `pipeline` until the source ends or `stop` is set.

    Storing is retried until it succeeds; publishing happens behind the pipeline's queue, so a
    broker that is away holds nothing up.  On stop, what is already queued is written.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=batch_size * 10)
    threading.Thread(target=_pump, args=(source, items, stop), name="ais-source", daemon=True).start()
    backoff = Backoff(0.5, 30.0)
    last_report = time.monotonic()
    ended = False
    while not ended:
        stopping = stop.is_set()
        batch: list[Item] = []
        deadline = time.monotonic() + (0.0 if stopping else batch_wait_s)
        while len(batch) < batch_size:
            try:
                item = items.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _END:
                ended = True
                break
            batch.append(item)  # type: ignore[arg-type]  # the queue holds items and the _END sentinel, now excluded
        ended = ended or stopping
        pipeline.totals["items"] += len(batch)
        reports = pipeline.decode(batch)
        if reports:
            stored = _until_done(lambda: pipeline.store(reports), f"storing {len(reports)} AIS reports", stop, backoff)
            if stored:
                pipeline.publish(stored)
        if time.monotonic() - last_report > report_every_s:
            log.info("ais_stream: %s", pipeline.summary())
            last_report = time.monotonic()
    log.info("ais_stream stopped: %s", pipeline.summary())


def simulator_start(clock: SimClock, last_stored: float | None, max_catch_up_s: float = MAX_CATCH_UP_S) -> float:
    """Where a (re)started simulator source begins: just after the last position it stored.

    A restart then leaves no hole in the traffic (what was emitted twice is stored once);
    after a long pause it starts at most `max_catch_up_s` simulated seconds back.
    """
    now = clock.now()
    if last_stored is None or last_stored >= now:
        return now
    return max(last_stored, now - max_catch_up_s)


def open_source(settings: Settings, stop: Stop, last_stored: float | None = None) -> Iterable[Item]:
    """The source `AIS_SOURCE` names, configured from the settings.

    `last_stored` (the newest stored time of this source) lets the simulator resume there.
    """
    kind = settings.ais.source
    if kind == "simulator":
        scenario = scenario_from_settings(settings)
        clock = SimClock.from_settings(settings.simulator.anchor, settings.simulator.speed)
        return SimulatorSource(NmeaSimulator(scenario), clock, stop, simulator_start(clock, last_stored))
    if kind == "tcp":
        return TcpSource(settings.ais.tcp_host, settings.ais.tcp_port, stop, Backoff(1.0, settings.ais.reconnect_max_s))
    if kind == "udp":
        return UdpSource(settings.ais.udp_host, settings.ais.udp_port, stop)
    if kind == "file":
        if not settings.ais.file:
            raise ValueError("AIS_SOURCE=file needs AIS_FILE (path of an NMEA log)")
        return FileSource(Path(settings.ais.file), stop, follow=settings.ais.file_follow)
    if kind == "http":
        if not settings.ais.http_url:
            raise ValueError("AIS_SOURCE=http needs AIS_HTTP_URL")
        return HttpSource(
            settings.ais.http_url,
            stop,
            settings.ais.http_interval_s,
            settings.ais.http_api_key,
            settings.ais.http_api_key_header,
        )
    if kind == "aisstream":
        if not settings.ais.aisstream_api_key:
            raise ValueError("AIS_SOURCE=aisstream needs AIS_AISSTREAM_API_KEY (free at aisstream.io)")
        boxes = settings.ais.aisstream_bboxes or [
            box_around(
                settings.hydrophone.lat,
                settings.hydrophone.lon,
                (max(settings.truth.radii_km) + settings.truth.buffer_km) * 1000.0,
            )
        ]
        for box in boxes:
            if not all(-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 for lat, lon in box):
                raise ValueError(f"AIS_AISSTREAM_BBOXES: {box} is not two [latitude, longitude] corners")
        types = [t.strip() for t in settings.ais.aisstream_message_types.split(",") if t.strip()]
        return AisStreamSource(
            settings.ais.aisstream_url,
            settings.ais.aisstream_api_key,
            boxes,
            stop,
            types or sorted(AISSTREAM_KINDS),
            Backoff(1.0, settings.ais.reconnect_max_s),
        )
    raise ValueError(f"AIS_SOURCE must be one of {', '.join(SOURCES)}, not {kind!r}")
