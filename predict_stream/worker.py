"""The live predict loop: every active model on every new window, with uncertainty.

Per step: poll the new windows (returning as soon as some arrive, or after the interval),
refresh the set of active models (a deploy or deactivation takes effect within one
interval, no restart), run each model once over the whole batch, store all predictions in
one transaction, publish them, and only then commit the Kafka offsets.  A crash anywhere
replays the batch; the unique (window, model) key makes the replay harmless.

Kafka alone is not enough: a window stored but never published (ingest died between commit
and publish) would never be predicted.  So a periodic reconcile pass also predicts, through the
same path, every stored window of the last PREDICT_CATCHUP_HOURS that an active model has no
prediction for, whatever Kafka delivered.  Windows stored within the last PREDICT_RECONCILE_GRACE_S
are left to Kafka: a live window taken by the reconciler would be predicted without its latency
from publication, and a pass after an outage would race every worker's Kafka loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import and_, func, or_, select, tuple_

from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel, ModelStatus, Prediction, Spectrogram, Window
from oceanwatch.inference.loading import ModelCache
from oceanwatch.inference.predictions import (
    lacks_prediction,
    prediction_rows,
    stack_features,
    store_predictions,
    utcnow_ms,
)
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.kafka import GroupConsumer
from oceanwatch.messages import PackedArray, PredictionMessage, WindowMessage
from oceanwatch.registry.store import mark_unhealthy

log = logging.getLogger(__name__)

RECONCILE_LOCK = 0x6F77_7072_6564  # pg advisory lock key ("owpred"): one reconcile pass at a time


class ModelPool:
    """Active, healthy models, loaded once (verified) and kept in memory between batches."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._cache = ModelCache(size=None)

    def refresh(self) -> list[LoadedModel]:
        """Load newly active models, drop deactivated or unhealthy ones; returns the active set."""
        with session_scope(self.url) as session:
            rows = session.execute(
                select(MLModel.id, MLModel.manifest, MLModel.artifact_path, MLModel.sha256)
                .where(MLModel.status == ModelStatus.ACTIVE, MLModel.healthy.is_(True))
                .order_by(MLModel.id)
            ).all()
        for model_id in self._cache.retain(row.id for row in rows):
            log.info("unloading model %d", model_id)
        loaded = []
        for row in rows:
            fresh = (row.id, row.sha256) not in self._cache
            try:
                loaded.append(self._cache.get(row))
            except Exception as exc:  # one bad model must not stop the others
                log.exception("model %d failed to load", row.id)
                with session_scope(self.url) as session:
                    mark_unhealthy(session, row.id, f"load failed: {type(exc).__name__}: {exc}")
                continue
            if fresh:
                log.info("loaded model %d", row.id)
        return loaded

    def drop(self, model_id: int) -> None:
        """Forget a model that failed (marked unhealthy): it is not run again unless redeployed."""
        self._cache.discard(model_id)


@dataclass
class StepStats:
    windows: int = 0
    predictions: int = 0
    counts: Counter[str] = field(default_factory=Counter)


class PredictWorker:
    """Consumes `acoustic.windows`, writes `predictions` rows, publishes to the predictions topic."""

    def __init__(
        self,
        url: str,
        pool: ModelPool,
        consumer: KafkaConsumer | GroupConsumer,
        producer: KafkaProducer,
        predictions_topic: str,
        max_batch: int = 256,
        catchup_hours: float = 24.0,
        reconcile_grace_s: float = 60.0,
    ) -> None:
        self.url = url
        self.pool = pool
        self.consumer = consumer
        self.producer = producer
        self.predictions_topic = predictions_topic
        self.max_batch = max_batch
        self.catchup_hours = catchup_hours
        self.reconcile_grace_s = reconcile_grace_s
        self.totals: Counter[str] = Counter()

    def step(self, timeout_ms: int) -> StepStats:
        """One poll-predict-store-publish-commit cycle."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.max_batch)
        records = [r for batch in polled.values() for r in batch]
        stats = StepStats()
        if not records:
            self.pool.refresh()
            return stats
        messages, published_ms = [], []
        for record in records:
            try:
                messages.append(WindowMessage.decode(record.value))
                published_ms.append(float(record.timestamp))
            except Exception as exc:  # garbage on the topic is counted and skipped, never fatal
                stats.counts["bad_message"] += 1
                log.warning(
                    "skipping undecodable message at %s/%d@%d: %s", record.topic, record.partition, record.offset, exc
                )
        if messages:
            self._process(messages, published_ms, stats)
        self.consumer.commit()
        self.totals.update(stats.counts)
        self.totals["windows"] += stats.windows
        self.totals["predictions"] += stats.predictions
        return stats

    def _process(self, messages: list[WindowMessage], published_ms: list[float], stats: StepStats) -> None:
        models = self.pool.refresh()
        first_of = {}
        for i, m in enumerate(messages):  # a re-sent window in the same batch is predicted once
            first_of.setdefault(m.window_id, i)
        stats.counts["duplicate_in_batch"] += len(messages) - len(first_of)
        known = self._stored_windows(list(first_of))
        kept = [i for w, i in first_of.items() if w in known]
        if len(kept) < len(first_of):  # a window must be in Postgres before it can be predicted on
            stats.counts["unknown_window"] += len(first_of) - len(kept)
            log.warning("%d messages name windows that are not stored; skipped", len(first_of) - len(kept))
        messages, published_ms = [messages[i] for i in kept], [published_ms[i] for i in kept]
        stats.windows = len(messages)
        if not messages:
            return
        if not models:
            stats.counts["no_active_model"] += len(messages)
            return
        self._predict(messages, published_ms, models, stats)

    def reconcile(self) -> StepStats:
        """Predict the stored windows of the last `catchup_hours` an active model lacks, oldest first,
        except those stored less than `reconcile_grace_s` ago (Kafka is still delivering them).

        Skipped when another worker's pass holds the advisory lock (it would do the same work);
        were two passes to overlap anyway, the unique (window, model) key keeps one row each.
        """
        stats = StepStats()
        models = self.pool.refresh()
        now = dt.datetime.now(dt.timezone.utc)
        since, stored_before = (
            now - dt.timedelta(hours=self.catchup_hours),
            now - dt.timedelta(seconds=self.reconcile_grace_s),
        )
        with session_scope(self.url) as lock:
            if not models or not lock.scalar(select(func.pg_try_advisory_lock(RECONCILE_LOCK))):
                return stats
            try:
                by_spec: dict[str, list[LoadedModel]] = {}
                for model in models:
                    by_spec.setdefault(model.manifest.feature_spec.hash, []).append(model)
                for spec_hash, group in by_spec.items():
                    self._reconcile_spec(spec_hash, group, since, stored_before, stats)
            finally:
                lock.execute(select(func.pg_advisory_unlock(RECONCILE_LOCK)))
        self.totals.update({f"reconcile_{k}": v for k, v in stats.counts.items()})
        self.totals["reconciled_predictions"] += stats.predictions
        if stats.predictions:
            log.info("reconcile: %d predictions for windows Kafka did not deliver", stats.predictions)
        return stats

    def _reconcile_spec(
        self,
        spec_hash: str,
        models: list[LoadedModel],
        since: dt.datetime,
        stored_before: dt.datetime,
        stats: StepStats,
    ) -> None:
        """Windows with this spec's spectrogram lacking a prediction from one of `models`, in batches."""
        lacking = or_(*[lacks_prediction(m.model_id) for m in models])
        after = (since, 0)
        while True:
            with session_scope(self.url) as session:
                rows = session.execute(
                    select(
                        Window.id,
                        Window.hydrophone_id,
                        Window.start_time,
                        Window.end_time,
                        Window.sample_rate,
                        Window.channels,
                        Window.clip_path,
                        Spectrogram.dtype,
                        Spectrogram.shape,
                        Spectrogram.data,
                    )
                    .join(Spectrogram, and_(Spectrogram.window_id == Window.id, Spectrogram.spec_hash == spec_hash))
                    .where(
                        Window.start_time >= since,
                        Window.created_at < stored_before,
                        tuple_(Window.start_time, Window.id) > tuple_(*after),
                        lacking,
                    )
                    .order_by(Window.start_time, Window.id)
                    .limit(self.max_batch)
                ).all()
            if not rows:
                return
            after = (rows[-1].start_time, rows[-1].id)
            messages = [
                WindowMessage.from_stored(r, {spec_hash: PackedArray(r.dtype, tuple(r.shape), r.data)}) for r in rows
            ]
            stats.windows += len(messages)
            batch = StepStats()
            self._predict(messages, None, models, batch)
            stats.predictions += batch.predictions
            stats.counts.update(batch.counts)

    def _predict(
        self,
        messages: list[WindowMessage],
        published_ms: list[float] | None,
        models: list[LoadedModel],
        stats: StepStats,
    ) -> None:
        """Run each model on the windows it lacks, store the rows idempotently, publish those inserted.

        `published_ms` gives each prediction its latency from publication; None (reconciled
        windows, never delivered) stores no latency.
        """
        done = self._already_predicted([m.window_id for m in messages], [m.model_id for m in models])
        features = self._features(messages, {m.manifest.feature_spec.hash: m for m in models}, stats)
        rows = []
        for model in models:
            spec_hash = model.manifest.feature_spec.hash
            todo = [i for i in features.get(spec_hash, {}) if (messages[i].window_id, model.model_id) not in done]
            if not todo:
                continue
            try:
                result = model.predict(stack_features([features[spec_hash][i] for i in todo]))
            except Exception as exc:
                log.exception("model %d failed on a batch", model.model_id)
                with session_scope(self.url) as session:
                    mark_unhealthy(session, model.model_id, f"inference failed: {type(exc).__name__}: {exc}")
                self.pool.drop(model.model_id)
                stats.counts["model_failure"] += 1
                continue
            now = utcnow_ms()
            rows.extend(
                prediction_rows(
                    model,
                    [messages[i].window_id for i in todo],
                    result,
                    None if published_ms is None else [now - published_ms[i] for i in todo],
                )
            )
        with session_scope(self.url) as session:
            inserted = store_predictions(session, rows)
        stats.predictions = len(inserted)
        by_window = {m.window_id: m for m in messages}
        names = {m.model_id: list(m.manifest.class_names) for m in models}
        for row in inserted:
            window = by_window[row["window_id"]]
            message = PredictionMessage(
                window_id=row["window_id"],
                model_id=row["model_id"],
                hydrophone_id=window.hydrophone_id,
                start_ms=window.start_ms,
                class_names=names[row["model_id"]],
                probabilities=row["probabilities"],
                predicted=row["predicted"],
                confidence=row["confidence"],
                entropy=row["entropy"],
                epistemic=row["epistemic"],
                aleatoric=row["aleatoric"],
            )
            self.producer.send(self.predictions_topic, key=window.hydrophone_id.encode(), value=message.encode())
        self.producer.flush()

    def _stored_windows(self, window_ids: list[int]) -> set[int]:
        with session_scope(self.url) as session:
            return set(session.scalars(select(Window.id).where(Window.id.in_(window_ids))))

    def _already_predicted(self, window_ids: list[int], model_ids: list[int]) -> set[tuple[int, int]]:
        with session_scope(self.url) as session:
            return set(
                session.execute(
                    select(Prediction.window_id, Prediction.model_id).where(
                        Prediction.window_id.in_(window_ids), Prediction.model_id.in_(model_ids)
                    )
                ).all()
            )

    @staticmethod
    def _features(
        messages: list[WindowMessage], specs: dict[str, LoadedModel], stats: StepStats
    ) -> dict[str, dict[int, np.ndarray]]:
        """Features per spec hash and message index; each spec decoded once, however many models use it."""
        out: dict[str, dict[int, np.ndarray]] = {}
        for spec_hash, model in specs.items():
            shape = model.manifest.feature_spec.input_shape
            out[spec_hash] = {}
            for i, message in enumerate(messages):
                packed = message.features.get(spec_hash)
                if packed is None:
                    stats.counts["missing_features"] += 1
                    continue
                array = packed.unpack()
                if array.shape != shape:
                    stats.counts["feature_shape_mismatch"] += 1
                    continue
                out[spec_hash][i] = array
        return out


def run_forever(
    worker: PredictWorker, interval_s: float, should_stop, report_every_s: float = 60.0, reconcile_every_s: float = 30.0
) -> None:
    """Step until `should_stop()`, reconciling at start and every `reconcile_every_s`; log counters periodically."""
    last_report, last_reconcile = time.monotonic(), None
    while not should_stop():
        if last_reconcile is None or time.monotonic() - last_reconcile > reconcile_every_s:
            last_reconcile = time.monotonic()
            try:
                worker.reconcile()
            except Exception:  # a failed pass is retried at the next one; the live loop goes on
                log.exception("reconcile pass failed")
        worker.step(timeout_ms=int(interval_s * 1000))
        if time.monotonic() - last_report > report_every_s:
            log.info("predict stream totals: %s", dict(worker.totals))
            last_report = time.monotonic()
