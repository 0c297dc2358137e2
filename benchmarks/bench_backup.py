"""Operations speed: backup and restore of a realistic database, and the cost of a /metrics scrape.

A private database is seeded with WINDOWS windows, each with its 160 x 128 float16 log-mel
spectrogram (the bulk of a real database) and a prediction from each of MODELS models, then:
- backup: one `run_backup` (pg_dump -Fc from a snapshot + row counts + verification), in s and MB/s;
- restore: `restore` into a fresh empty database, including the row-count check;
- scrape: `oceanwatch.runtime.prometheus.render` (what /metrics does: database counts + consumer lag), p50/p95.
Figures follow the report convention: {"value", "unit", "goal", "higher_is_better"}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

from benchmarks.common import metric
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.models import Hydrophone, MLModel, Prediction, Spectrogram, Window
from oceanwatch.runtime.prometheus import render
from oceanwatch.testing.scratch import create_database, drop_database
from scripts.backup import run_backup
from scripts.restore import restore

WINDOWS = 1000
MODELS = 3
SCRAPES = 20


def _seed(url: str) -> None:
    rng = np.random.default_rng(0)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with session_scope(url) as session:
        session.add(Hydrophone(id="BENCH", name="bench", latitude=36.7, longitude=-122.2, channels=1))
        models = [
            MLModel(
                name=f"bench-{i}",
                version="1",
                task="multi_class",
                class_names=list("ABCDE"),
                feature_spec={},
                feature_spec_hash="h",
                artifact_path="/x",
                sha256="0" * 64,
                manifest={},
                status="active",
            )
            for i in range(MODELS)
        ]
        session.add_all(models)
        session.flush()
        model_ids = [m.id for m in models]
    for start in range(0, WINDOWS, 100):
        with session_scope(url) as session:
            rows = (
                session.execute(
                    insert(Window).returning(Window.id),
                    [
                        {
                            "hydrophone_id": "BENCH",
                            "start_time": t0 + dt.timedelta(seconds=22.5 * i),
                            "end_time": t0 + dt.timedelta(seconds=22.5 * i + 30),
                            "sample_rate": 4000,
                            "channels": 1,
                        }
                        for i in range(start, min(WINDOWS, start + 100))
                    ],
                )
                .scalars()
                .all()
            )
            session.execute(
                insert(Spectrogram),
                [
                    {
                        "window_id": w,
                        "spec_hash": "bench",
                        "dtype": "float16",
                        "shape": [160, 128],
                        "data": rng.normal(size=(160, 128)).astype(np.float16).tobytes(),
                    }
                    for w in rows
                ],
            )
            session.execute(
                insert(Prediction),
                [
                    {"window_id": w, "model_id": m, "probabilities": [0.2] * 5, "predicted": ["A"], "confidence": 0.2}
                    for w in rows
                    for m in model_ids
                ],
            )


def main() -> None:
    base = Settings()
    server = base.require_database_url()
    source, target = f"bench_backup_{uuid.uuid4().hex[:8]}", f"bench_restore_{uuid.uuid4().hex[:8]}"
    source_url, target_url = create_database(server, source), create_database(server, target)
    try:
        upgrade(source_url)
        _seed(source_url)
        with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
            settings = base.updated(database_url=source_url, data_dir=Path(tmp), backup={"retry_delay_s": 0.0})
            clock = time.perf_counter()
            outcome = run_backup(settings, kind="oneshot")
            backup_s = time.perf_counter() - clock
            if outcome.status != "succeeded":
                raise RuntimeError(f"backup failed: {outcome.error}")
            database_mb = _database_mb(source_url)
            dump_mb = outcome.path.stat().st_size / 1e6
            clock = time.perf_counter()
            report = restore(outcome.path, target_url, settings)
            restore_s = time.perf_counter() - clock
        scrape_ms = []
        for _ in range(SCRAPES):
            clock = time.perf_counter()
            render(engine_for(source_url), base.require_kafka(), 30.0)
            scrape_ms.append((time.perf_counter() - clock) * 1000)
    finally:
        drop_database(server, source)
        drop_database(server, target)
    results = {
        "database_mb": metric(database_mb, "MB", None, False),
        "dump_mb": metric(dump_mb, "MB", None, False),
        "backup_seconds": metric(backup_s, "s", 60.0, False),
        "backup_mb_per_s": metric(database_mb / backup_s, "MB/s (database size)", higher_is_better=True),
        "restore_seconds": metric(restore_s, "s", 120.0, False),
        "restore_counts_match": metric(1.0 if report.ok else 0.0, "1 = every table's rows match", 1.0, True),
        "metrics_scrape_p50_ms": metric(float(np.percentile(scrape_ms, 50)), "ms", None, False),
        "metrics_scrape_p95_ms": metric(float(np.percentile(scrape_ms, 95)), "ms", 1000.0, False),
        "note": (
            f"{WINDOWS} windows with 160x128 float16 spectrograms and {MODELS} predictions each; backup = "
            "pg_dump -Fc from an exported snapshot + per-table counts + pg_restore --list verification; "
            "restore includes the row-count check; scrape = database figures + consumer-group lag"
        ),
    }
    print(json.dumps({"benchmark": "backup_metrics", "cpu_count": os.cpu_count(), "results": results}))


def _database_mb(url: str) -> float:
    with engine_for(url).connect() as conn:
        return conn.execute(text("select pg_database_size(current_database())")).scalar_one() / 1e6


if __name__ == "__main__":
    main()
