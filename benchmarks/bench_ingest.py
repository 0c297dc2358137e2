"""Ingest throughput: seconds of audio ingested per wall second for one mono 8 kHz stream.

Everything a real deployment does is timed: reading WAV files from the watched directory,
windowing, log-mel features (default spec), FLAC clips, Postgres rows and Kafka messages.
Run under the stack runner: `python -m oceanwatch.runtime.stack run --free-ports -- python -m benchmarks.bench_ingest`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf
from sqlalchemy.dialects.postgresql import insert

from ingest.service import make_ingestor
from ingest.sites import make_directory_source
from oceanwatch.audio.features import DEFAULT_SPEC, compute
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.models import Hydrophone
from oceanwatch.kafka import ensure_topics, make_producer
from oceanwatch.sim.acoustics import render_sources, synthesize
from oceanwatch.sim.scenario import Scenario

SAMPLE_RATE = 8000
FILE_SECONDS = 600
FILES = int(os.environ.get("BENCH_INGEST_FILES", "6"))  # an hour of audio by default


def make_files(directory: Path, start: dt.datetime, hydrophone: str) -> float:
    """FILES ten-minute WAV files of simulated audio; returns the seconds of audio written."""
    scenario = Scenario(seed=1)
    rng = np.random.default_rng(0)
    for k in range(FILES):
        t0 = start + dt.timedelta(seconds=k * FILE_SECONDS)
        chunks = [
            synthesize(scenario, 36.7125, -122.1875, t0 + dt.timedelta(seconds=60 * m), 60.0, SAMPLE_RATE, rng)
            for m in range(FILE_SECONDS // 60)
        ]
        sf.write(
            directory / f"{hydrophone}-{t0:%Y%m%dT%H%M%S}.wav", np.concatenate(chunks), SAMPLE_RATE, subtype="PCM_16"
        )
    return float(FILES * FILE_SECONDS)


def timed_ms(fn, repeat: int = 10) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def main() -> int:
    base = Settings()
    url = base.require_database_url()
    upgrade(url)
    hydrophone = f"BENCH{uuid.uuid4().hex[:6].upper()}"
    topic = f"bench.windows.{uuid.uuid4().hex[:8]}"
    ensure_topics(base.require_kafka(), base.kafka.partitions, (topic,))
    with session_scope(url) as session:
        session.execute(
            insert(Hydrophone).values(
                id=hydrophone, name=hydrophone, latitude=36.7, longitude=-122.2, channels=1, description="benchmark"
            )
        )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        settings = base.updated(
            data_dir=Path(tmp), hydrophone={"id": hydrophone}, ingest={"filename_pattern": r"-(?P<ts>\d{8}T\d{6})"}
        )
        incoming = Path(tmp) / "incoming"
        incoming.mkdir()
        audio_seconds = make_files(incoming, dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc), hydrophone)
        rss_before = psutil.Process().memory_info().rss
        producer = make_producer(settings, batch_size=512 * 1024)
        ingestor = make_ingestor(settings, producer, topic)
        source = make_directory_source(settings, ingestor)
        t0 = time.perf_counter()
        outcomes = [source.ingest_file(path) for path in sorted(incoming.glob("*.wav"))]
        wall = time.perf_counter() - t0
        rss_after = psutil.Process().memory_info().rss
        producer.close()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    windows = ingestor.counts["windows_stored"]
    if outcomes.count("ingested") != FILES or windows == 0:
        print(json.dumps({"benchmark": "ingest", "error": f"outcomes {outcomes}, windows {windows}"}))
        return 1
    rng = np.random.default_rng(1)
    sources = [("cargo", 200.0, 14.0, 4000.0), ("fishing", 25.0, 8.0, 900.0)]
    synth_ms = timed_ms(lambda: render_sources(sources, 30.0, SAMPLE_RATE, rng))
    window = render_sources([], 30.0, SAMPLE_RATE, rng)
    feature_ms = timed_ms(lambda: compute(DEFAULT_SPEC, window, SAMPLE_RATE))
    result = {
        "benchmark": "ingest",
        "results": {
            "realtime_factor": {
                "value": round(audio_seconds / wall, 1),
                "unit": "audio s per wall s",
                "goal": 500,
                "higher_is_better": True,
            },
            "windows_per_second": {
                "value": round(windows / wall, 1),
                "unit": "windows/s",
                "goal": None,
                "higher_is_better": True,
            },
            "peak_rss": {"value": round(peak_rss_mb, 1), "unit": "MiB", "goal": None, "higher_is_better": False},
            "rss_growth_during_ingest": {
                "value": round((rss_after - rss_before) / 2**20, 1),
                "unit": "MiB",
                "goal": None,
                "higher_is_better": False,
            },
            "synthesis_30s_8k": {"value": round(synth_ms, 2), "unit": "ms", "goal": 50, "higher_is_better": False},
            "features_per_window": {
                "value": round(feature_ms, 2),
                "unit": "ms",
                "goal": None,
                "higher_is_better": False,
            },
        },
        "audio_seconds": audio_seconds,
        "wall_seconds": round(wall, 2),
        "windows": windows,
        "sample_rate": SAMPLE_RATE,
        "feature_specs": 1,
        "clips": settings.ingest.clips,
        "stage_seconds": {k: round(ingestor.counts[k], 2) for k in ("features_s", "write_s", "wait_writer_s")},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
