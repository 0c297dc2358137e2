"""/metrics: valid Prometheus text, figures from the database and broker, counters summed across processes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AudioFile, Backup, Hydrophone, Job, MLModel, Prediction, Window
from oceanwatch.kafka import make_consumer, make_producer
from oceanwatch.runtime.counters import merge_snapshots, snapshot
from oceanwatch.runtime.embedded import free_port
from oceanwatch.runtime.heartbeat import beat
from tests.webkit import make_token, make_user

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 1, tzinfo=UTC)


def scrape(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics, parsed by prometheus_client's own parser: {(sample name, sorted labels): value}."""
    app = create_app(settings=settings)
    assert app.test_client().get("/metrics").status_code in (302, 401), "metrics are not public"
    token = make_token(settings, make_user(settings, f"prometheus-{uuid.uuid4().hex[:6]}", "viewer"))
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain") and "version=" in response.content_type
    families = list(text_string_to_metric_families(response.get_data(as_text=True)))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_snapshots_of_several_processes_sum_per_label_set() -> None:
    registries = [CollectorRegistry(), CollectorRegistry()]
    counters = [Counter("x_rejects", "help", ["reason"], registry=r) for r in registries]
    counters[0].labels("checksum").inc(3)
    counters[0].labels("range").inc(1)
    counters[1].labels("checksum").inc(2)
    merged = merge_snapshots([snapshot(r) for r in registries])
    assert merged["x_rejects"] == ("help", {(("reason", "checksum"),): 5.0, (("reason", "range"),): 1.0})


def _seed(url: str) -> dict[str, int]:
    with session_scope(url) as session:
        session.add(Hydrophone(id="H1", name="h", latitude=0.0, longitude=0.0, channels=1))
        session.flush()
        windows = [
            Window(
                hydrophone_id="H1",
                start_time=T0 + dt.timedelta(seconds=22.5 * i),
                end_time=T0 + dt.timedelta(seconds=22.5 * i + 30),
                sample_rate=4000,
                channels=1,
            )
            for i in range(5)
        ]
        model = MLModel(
            name="cnn",
            version="2",
            task="multi_class",
            class_names=["A", "E"],
            feature_spec={},
            feature_spec_hash="h",
            artifact_path="/x",
            sha256="0" * 64,
            manifest={},
            status="active",
        )
        files = [
            AudioFile(hydrophone_id="H1", path=f"/f{i}.wav", sha256=f"{i:064d}", status=status)
            for i, status in enumerate(["ingested", "ingested", "quarantined"])
        ]
        session.add_all([*windows, model, *files])
        session.flush()
        session.add_all(
            [
                Prediction(window_id=w.id, model_id=model.id, probabilities=[0.5, 0.5], predicted=["A"], confidence=0.5)
                for w in windows[:3]
            ]
        )
        session.add_all(
            [
                Job(
                    kind="backfill",
                    status="succeeded",
                    params={},
                    started_at=T0,
                    finished_at=T0 + dt.timedelta(seconds=4),
                ),
                Job(
                    kind="backfill",
                    status="succeeded",
                    params={},
                    started_at=T0,
                    finished_at=T0 + dt.timedelta(seconds=2),
                ),
                Job(kind="backfill", status="queued", params={}),
                Backup(
                    kind="scheduled",
                    status="succeeded",
                    attempts=1,
                    verified=True,
                    started_at=T0,
                    finished_at=T0 + dt.timedelta(minutes=1),
                    size_bytes=1234,
                ),
                Backup(
                    kind="scheduled",
                    status="failed",
                    attempts=3,
                    started_at=T0 + dt.timedelta(days=1),
                    finished_at=T0 + dt.timedelta(days=1, minutes=1),
                    error="boom",
                ),
            ]
        )
    return {"windows": 5, "predictions": 3}


def test_metrics_serve_database_figures_as_valid_prometheus_text(settings: Settings) -> None:
    url = settings.database_url
    seeded = _seed(url)
    now = dt.datetime.now(UTC)
    rejects = {
        "oceanwatch_ais_rejects": {
            "help": "AIS messages rejected, by reason.",
            "samples": [[{"reason": "bad_checksum"}, 4.0], [{"reason": "out_of_range"}, 1.0]],
        }
    }
    beat(url, "ais_stream", "host:1", now, rejects)
    beat(
        url,
        "ais_stream",
        "host:2",
        now,
        {"oceanwatch_ais_rejects": {"help": "", "samples": [[{"reason": "bad_checksum"}, 2.0]]}},
    )
    beat(url, "ingest", "host:3", now, {}, stopped=True)

    m = scrape(settings)
    assert m[("oceanwatch_windows_ingested_total", (("hydrophone", "H1"),))] == seeded["windows"]
    assert m[("oceanwatch_predictions_total", (("model", "cnn"), ("version", "2")))] == seeded["predictions"]
    assert m[("oceanwatch_model_active", (("model", "cnn"), ("version", "2")))] == 1
    assert m[("oceanwatch_audio_files", (("status", "quarantined"),))] == 1
    assert m[("oceanwatch_audio_files", (("status", "ingested"),))] == 2
    assert m[("oceanwatch_ais_rejects_total", (("reason", "bad_checksum"),))] == 6.0
    assert m[("oceanwatch_ais_rejects_total", (("reason", "out_of_range"),))] == 1.0
    assert m[("oceanwatch_job_duration_seconds_count", (("kind", "backfill"), ("status", "succeeded")))] == 2
    assert m[("oceanwatch_job_duration_seconds_sum", (("kind", "backfill"), ("status", "succeeded")))] == 6.0
    assert m[("oceanwatch_jobs", (("kind", "backfill"), ("status", "queued")))] == 1
    assert m[("oceanwatch_backup_last_success_timestamp_seconds", ())] == (T0 + dt.timedelta(minutes=1)).timestamp()
    assert m[("oceanwatch_backup_last_success_size_bytes", ())] == 1234
    assert m[("oceanwatch_backups", (("status", "failed"),))] == 1
    assert m[("oceanwatch_service_up", (("service", "ais_stream"),))] == 1
    assert m[("oceanwatch_service_live_instances", (("service", "ais_stream"),))] == 2
    assert m[("oceanwatch_service_up", (("service", "ingest"),))] == 0, "a stopped instance is not up"
    assert m[("oceanwatch_database_scrape_ok", ())] == 1 and m[("oceanwatch_broker_scrape_ok", ())] == 1


def test_stale_heartbeats_mean_down(settings: Settings) -> None:
    stale = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    beat(settings.database_url, "predict_stream", "host:9", stale, {})
    from sqlalchemy import text

    from oceanwatch.db import engine_for

    with engine_for(settings.database_url).begin() as conn:
        conn.execute(text("update service_heartbeats set beat_at = :t"), {"t": stale})
    m = scrape(settings)
    assert m[("oceanwatch_service_up", (("service", "predict_stream"),))] == 0
    assert m[("oceanwatch_service_heartbeat_age_seconds", (("service", "predict_stream"),))] >= 3600


def test_consumer_group_lag_comes_from_high_watermarks(settings: Settings, new_topic) -> None:
    topic = new_topic("lag")
    producer = make_producer(settings, linger_ms=50)  # batched produces: where ListOffsets goes wrong on tansu
    for i in range(60):
        producer.send(topic, key=str(i % 7).encode(), value=b"v")
    producer.flush()
    producer.close()
    group = f"lag-test-{os.getpid()}-{time.monotonic_ns()}"
    consumer = make_consumer(settings, group, topic)
    consumed = 0
    deadline = time.monotonic() + 30
    while consumed < 25 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=25 - consumed).values():
            consumed += len(records)
    consumer.commit()
    consumer.close(autocommit=False)
    m = scrape(settings)
    assert m[("oceanwatch_consumer_group_lag", (("group", group), ("topic", topic)))] == 60 - consumed


def test_a_dead_broker_still_serves_the_database_figures(settings: Settings) -> None:
    _seed(settings.database_url)
    dead = settings.updated(kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    m = scrape(dead)
    assert m[("oceanwatch_broker_scrape_ok", ())] == 0
    assert m[("oceanwatch_windows_ingested_total", (("hydrophone", "H1"),))] == 5


def test_a_running_service_beats_and_a_stopped_one_is_down(settings: Settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "DATA_DIR": str(settings.data_dir),
        "HEARTBEAT_INTERVAL_S": "0.5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.backup"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fast = settings.updated(heartbeat_interval_s=0.5)
    try:
        deadline = time.monotonic() + 60
        while scrape(fast).get(("oceanwatch_service_up", (("service", "backup"),))) != 1:
            assert time.monotonic() < deadline, "the backup service never beat"
            assert proc.poll() is None, "the backup service exited"
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert scrape(fast)[("oceanwatch_service_up", (("service", "backup"),))] == 0


def test_instances_gone_for_a_week_are_forgotten(settings: Settings) -> None:
    from sqlalchemy import select, text

    from oceanwatch.db import engine_for
    from oceanwatch.db.models import ServiceHeartbeat
    from oceanwatch.runtime.heartbeat import FORGET_AFTER, forget_stale

    now = dt.datetime.now(UTC)
    for instance in ("old:1", "recent:2"):
        beat(settings.database_url, "ingest", instance, now, {})
    beat(settings.database_url, "ais_stream", "old:3", now, {})
    with engine_for(settings.database_url).begin() as conn:
        conn.execute(
            text("update service_heartbeats set beat_at = :t where instance like 'old:%'"),
            {"t": now - FORGET_AFTER - dt.timedelta(hours=1)},
        )
    assert forget_stale(settings.database_url, "ingest", FORGET_AFTER) == 1
    with session_scope(settings.database_url) as session:
        left = session.execute(
            select(ServiceHeartbeat.service, ServiceHeartbeat.instance).order_by(ServiceHeartbeat.instance)
        ).all()
    assert [tuple(r) for r in left] == [("ais_stream", "old:3"), ("ingest", "recent:2")]
