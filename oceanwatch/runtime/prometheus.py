"""Prometheus metrics of the whole platform, computed so that any process can serve them.

Two sources, because the web app (several gunicorn workers) is not where the work happens:
- the database, read at scrape time: windows ingested, predictions per model, AIS positions
  stored, jobs and their durations, backups (last success time), service readiness from
  heartbeats, and consumer-group lag from the broker;
- counters that only exist inside a service process (AIS rejects by reason, ...): services
  increment them in `oceanwatch.runtime.counters`, their heartbeat (`oceanwatch.runtime.heartbeat`) copies a
  snapshot into Postgres, and the scrape sums the snapshots of every instance.
`render()` is what `/metrics` returns.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from sqlalchemy import Engine, text

from oceanwatch.db.models import ModelStatus
from oceanwatch.runtime.counters import REGISTRY, Snapshot, merge_snapshots, snapshot
from oceanwatch.runtime.heartbeat import service_states

log = logging.getLogger(__name__)


def _process_counters(snapshots: Iterable[Snapshot]) -> Iterator[Metric]:
    # The scraping process's own families (values zeroed: its counts are not a service's) come first, so
    # every known family appears even before any service has beaten; the services' snapshots add the counts.
    known = {
        name: {**family, "samples": [[labels, 0.0] for labels, _ in family["samples"]]}
        for name, family in snapshot(REGISTRY).items()
    }
    merged = merge_snapshots([known, *snapshots])
    for name, (help_text, totals) in sorted(merged.items()):
        label_names = sorted({k for key in totals for k, _ in key})
        family = CounterMetricFamily(name, help_text, labels=label_names)
        for key, value in sorted(totals.items()):
            labels = dict(key)
            family.add_metric([labels.get(n, "") for n in label_names], value)
        yield family


def _epoch(value: dt.datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def database_metrics(engine: Engine, stale_after_s: float) -> Iterator[Metric]:
    """Everything the database knows, as metric families (exact counts; the tables are indexed for them)."""
    with engine.connect() as conn:
        windows = CounterMetricFamily(
            "oceanwatch_windows_ingested", "Audio windows stored, by hydrophone.", labels=["hydrophone"]
        )
        for hydrophone, count in conn.execute(
            text("select hydrophone_id, count(*) from windows group by hydrophone_id order by 1")
        ):
            windows.add_metric([hydrophone], count)
        yield windows

        predictions = CounterMetricFamily(
            "oceanwatch_predictions", "Predictions stored, by model.", labels=["model", "version"]
        )
        active = GaugeMetricFamily(
            "oceanwatch_model_active", "1 if the model version is deployed.", labels=["model", "version"]
        )
        for name, version, status, count in conn.execute(
            text(
                "select m.name, m.version, m.status, coalesce(p.n, 0) from models m "
                "left join (select model_id, count(*) as n from predictions group by model_id) p on p.model_id = m.id "
                "order by 1, 2"
            )
        ):
            predictions.add_metric([name, version], count)
            active.add_metric([name, version], 1.0 if status == ModelStatus.ACTIVE else 0.0)
        yield predictions
        yield active

        files = GaugeMetricFamily(
            "oceanwatch_audio_files", "Audio files, by status (quarantined = refused input).", labels=["status"]
        )
        for status, count in conn.execute(text("select status, count(*) from audio_files group by 1 order by 1")):
            files.add_metric([status], count)
        yield files

        positions = CounterMetricFamily("oceanwatch_ais_positions_stored", "AIS position reports stored.")
        positions.add_metric([], conn.execute(text("select count(*) from ais_positions")).scalar_one())
        yield positions

        jobs = GaugeMetricFamily("oceanwatch_jobs", "Background jobs, by kind and status.", labels=["kind", "status"])
        durations = SummaryMetricFamily(
            "oceanwatch_job_duration_seconds", "Run time of finished background jobs.", labels=["kind", "status"]
        )
        for kind, status, count, finished, seconds in conn.execute(
            text(
                "select kind, status, count(*), count(finished_at - started_at), "
                "coalesce(sum(extract(epoch from finished_at - started_at)), 0) from jobs group by 1, 2 order by 1, 2"
            )
        ):
            jobs.add_metric([kind, status], count)
            if finished:
                durations.add_metric([kind, status], count_value=finished, sum_value=float(seconds))
        yield jobs
        yield durations

        backups = GaugeMetricFamily("oceanwatch_backups", "Backup runs, by status.", labels=["status"])
        for status, count in conn.execute(text("select status, count(*) from backups group by 1 order by 1")):
            backups.add_metric([status], count)
        yield backups
        last = conn.execute(
            text(
                "select finished_at, size_bytes from backups where status in ('succeeded', 'pruned') "
                "order by finished_at desc nulls last limit 1"
            )
        ).first()
        yield GaugeMetricFamily(
            "oceanwatch_backup_last_success_timestamp_seconds",
            "Unix time the newest successful backup finished (0: never).",
            value=_epoch(last[0] if last else None),
        )
        yield GaugeMetricFamily(
            "oceanwatch_backup_last_success_size_bytes",
            "Size of the newest successful dump.",
            value=float(last[1] or 0) if last else 0.0,
        )

        snapshots = [r[0] for r in conn.execute(text("select counters from service_heartbeats"))]
        states = service_states(conn, stale_after_s)
    yield from _process_counters(snapshots)

    up = GaugeMetricFamily(
        "oceanwatch_service_up", "1 if an instance of the service beat recently.", labels=["service"]
    )
    live = GaugeMetricFamily(
        "oceanwatch_service_live_instances", "Instances that beat recently and did not stop.", labels=["service"]
    )
    age = GaugeMetricFamily(
        "oceanwatch_service_heartbeat_age_seconds", "Age of the service's freshest heartbeat.", labels=["service"]
    )
    for state in states:
        up.add_metric([state.service], 1.0 if state.up else 0.0)
        live.add_metric([state.service], state.live_instances)
        age.add_metric([state.service], state.last_beat_age_s)
    yield from (up, live, age)


def high_watermarks(bootstrap: str, partitions: list[Any], timeout_s: float = 3.0) -> dict[Any, int]:
    """End offsets from fetch responses (a throwaway consumer), not ListOffsets.

    Why: tansu's ListOffsets "latest" is wrong after batched produces, while every fetch
    response carries the partition's true high watermark.  Fetches start at offset 0 and are
    capped at 1 kB per partition, so this reads almost nothing.
    """
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=1024,
        request_timeout_ms=int(timeout_s * 1000) + 2000,
        client_id="oceanwatch-metrics",
    )
    try:
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(consumer.highwater(tp) is None for tp in partitions):
            consumer.poll(timeout_ms=200, max_records=1)
        return {tp: hw for tp in partitions if (hw := consumer.highwater(tp)) is not None}
    finally:
        consumer.close(autocommit=False)


def consumer_lag(bootstrap: str) -> dict[tuple[str, str], int]:
    """Messages each consumer group has not committed yet, per (group, topic)."""
    from oceanwatch.kafka import admin_client

    admin = admin_client(bootstrap, timeout_ms=3000)
    try:
        groups = sorted(g["group_id"] for g in admin.list_groups())
        committed = {g: admin.list_group_offsets({g: None}).get(g, {}) for g in groups}
    finally:
        admin.close()
    partitions = sorted({tp for offsets in committed.values() for tp in offsets})
    if not partitions:
        return {}
    ends = high_watermarks(bootstrap, partitions)
    lag: dict[tuple[str, str], int] = {}
    for group, offsets in committed.items():
        for tp, meta in offsets.items():
            if tp in ends:
                key = (group, tp.topic)
                lag[key] = lag.get(key, 0) + max(0, ends[tp] - max(0, meta.offset))
    return lag


class PlatformCollector:
    """A prometheus_client collector reading the database and the broker at each scrape.

    A source that fails is reported by its `*_scrape_ok` gauge (0) instead of failing the
    whole scrape, so the other figures still arrive when, say, the broker is down.
    """

    def __init__(self, engine: Engine, bootstrap: str, stale_after_s: float) -> None:
        self.engine, self.bootstrap, self.stale_after_s = engine, bootstrap, stale_after_s

    def collect(self) -> Iterator[Metric]:
        ok = 1.0
        try:
            yield from list(database_metrics(self.engine, self.stale_after_s))
        except Exception as exc:  # reported as a gauge; the scrape goes on
            log.warning("metrics: database unavailable: %s", exc)
            ok = 0.0
        yield GaugeMetricFamily("oceanwatch_database_scrape_ok", "1 if the database answered this scrape.", value=ok)

        ok, lag = (
            1.0,
            GaugeMetricFamily(
                "oceanwatch_consumer_group_lag",
                "Messages not yet committed by a consumer group (high watermark - committed).",
                labels=["group", "topic"],
            ),
        )
        try:
            for (group, topic), value in sorted(consumer_lag(self.bootstrap).items()):
                lag.add_metric([group, topic], value)
        except Exception as exc:  # reported as a gauge; the scrape goes on
            log.warning("metrics: broker unavailable: %s", exc)
            ok = 0.0
        yield lag
        yield GaugeMetricFamily("oceanwatch_broker_scrape_ok", "1 if the broker answered this scrape.", value=ok)


def render(engine: Engine, bootstrap: str, stale_after_s: float) -> bytes:
    """The Prometheus text exposition of the platform, freshly computed (on the caller's engine and its pool)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(engine, bootstrap, stale_after_s))
    return generate_latest(registry)
