"""The ingest pipeline: segments in, windows out to storage and Kafka, in bounded batches.

Sources are pulled (iterators), so a slow database or broker slows the reading of audio
instead of piling it up in memory: at most `batch_windows` windows wait here plus one batch
being written (a queue of one).  The broker never holds them up: what it has not acknowledged
waits in the outbox (Postgres), not here.
Features of the next batch are computed while the previous one is written, on a second thread.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ingest.assembler import AudioWindow, Segment, WindowAssembler
from ingest.store import ActiveSpecs, WindowWriter, WriteResult, features_for

log = logging.getLogger(__name__)


@dataclass
class Ingestor:
    """Per-hydrophone assemblers feeding one writer."""

    writer: WindowWriter
    specs: ActiveSpecs
    window_seconds: float
    hop_seconds: float
    batch_windows: int = 32
    gap_tolerance_s: float = 0.05
    counts: Counter = field(default_factory=Counter)
    _assemblers: dict[str, WindowAssembler] = field(default_factory=dict)
    republish_existing: bool = False
    _pending: list[AudioWindow] = field(default_factory=list)
    _in_flight: Future | None = None
    _executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "ingest-writer"))

    def file_assembler(self, start: float) -> WindowAssembler:
        """An assembler of its own for one file-aligned file: windows from `start`, every hop, inside the file."""
        return WindowAssembler(self.window_seconds, self.hop_seconds, self.gap_tolerance_s, origin=start)

    def feed(self, segment: Segment, assembler: WindowAssembler | None = None) -> None:
        """Add audio; stores every batch of windows it completes.

        Without `assembler` the segment joins its hydrophone's stream on the global grid (audio runs
        on across files); a file-aligned file passes the one `file_assembler` gave it.
        """
        if assembler is None:
            assembler = self._assemblers.get(segment.hydrophone_id)
        if assembler is None:
            assembler = WindowAssembler(self.window_seconds, self.hop_seconds, self.gap_tolerance_s)
            self._assemblers[segment.hydrophone_id] = assembler
        self.counts["audio_seconds"] += segment.audio.shape[0] / segment.sample_rate
        for window in assembler.push(segment):
            if self._pending and (window.sample_rate, window.channels) != (
                self._pending[0].sample_rate,
                self._pending[0].channels,
            ):
                self.flush(wait=False)  # a batch shares one sample rate and channel count
            self._pending.append(window)
            if len(self._pending) >= self.batch_windows:
                self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Send the waiting windows to the writer; with `wait`, return only when everything is stored.

        Without `wait` at most one batch is being written while the next is prepared: a second
        flush blocks until the first is done, which is the backpressure.
        """
        if self._pending:
            batch, self._pending = self._pending, []
            started = time.perf_counter()
            features = features_for(batch, self.specs, self.counts)
            self.counts["features_s"] += time.perf_counter() - started
            started = time.perf_counter()
            self._collect()
            self.counts["wait_writer_s"] += time.perf_counter() - started
            self._in_flight = self._executor.submit(self._write, batch, features, self.republish_existing)
        if wait:
            self._collect()

    def _write(
        self, batch: list[AudioWindow], features: dict[str, np.ndarray], republish: bool
    ) -> tuple[WriteResult, int]:
        started = time.perf_counter()
        result = self.writer.write(batch, features, republish)
        self.counts["write_s"] += time.perf_counter() - started
        return result, len(features)

    def _collect(self) -> None:
        """Wait for the batch in flight (re-raising its error) and count it."""
        if self._in_flight is None:
            return
        future, self._in_flight = self._in_flight, None
        result, specs = future.result()
        self.counts["windows_stored"] += result.stored
        self.counts["windows_existing"] += result.existing
        self.counts["windows_published"] = self.writer.published
        self.counts["features"] += result.stored * specs

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._executor.shutdown()

    def assembler_stats(self) -> dict[str, dict[str, float]]:
        return {h: vars(a.stats) for h, a in self._assemblers.items()}
