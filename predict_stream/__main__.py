"""Entry point: `python -m predict_stream` runs the live worker (with its reconciler), plus threads for
backfill and training jobs.

Jobs get their own threads so a long training never delays a backfill, and neither blocks
the live loop (TensorFlow releases the GIL while it computes).
"""

from __future__ import annotations

import logging
import threading
from functools import partial

from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.kafka import PREDICTIONS_TOPIC, WINDOWS_TOPIC, GroupConsumer, make_producer
from oceanwatch.runtime.service import StopFlag, run_service
from oceanwatch.training import trainjob
from predict_stream import backfill
from predict_stream.worker import ModelPool, PredictWorker, run_forever

log = logging.getLogger("predict_stream")


def _job_loop(settings: Settings, stop: StopFlag, runners: dict[str, jobs.Runner]) -> None:
    url = settings.require_database_url()
    while not stop.is_set():
        try:
            if jobs.run_next(url, runners) is None:
                stop.wait(settings.predict.interval_s * 2)
        except Exception:  # a database hiccup must not kill the thread
            log.exception("job poll failed")
            stop.wait(5.0)


def main(settings: Settings, stop: StopFlag) -> None:
    url = settings.require_database_url()
    consumer = GroupConsumer(settings, settings.predict.group_id, settings.kafka.topic(WINDOWS_TOPIC))
    producer = make_producer(settings)
    worker = PredictWorker(
        url,
        ModelPool(url),
        consumer,
        producer,
        settings.kafka.topic(PREDICTIONS_TOPIC),
        settings.predict.max_batch,
        settings.predict.catchup_hours,
        settings.predict.reconcile_grace_s,
    )
    train = partial(trainjob.run_training, models_dir=settings.data_dir / "models")
    for name, runners in (
        ("backfill", {jobs.JobKind.BACKFILL: backfill.run_backfill}),
        ("training", {jobs.JobKind.TRAIN: train}),
    ):
        threading.Thread(target=_job_loop, args=(settings, stop, runners), name=name, daemon=True).start()
    try:
        run_forever(worker, settings.predict.interval_s, stop.is_set, reconcile_every_s=settings.predict.reconcile_s)
    finally:
        consumer.close(autocommit=False)
        producer.close(timeout=5)


if __name__ == "__main__":
    run_service("predict_stream", main)
