"""Entry point: `python -m predict_stream` runs the live worker and a backfill-job thread."""

from __future__ import annotations

import logging
import threading

from oceanwatch.config import Settings
from oceanwatch.kafka import PREDICTIONS_TOPIC, WINDOWS_TOPIC, make_consumer, make_producer
from oceanwatch.service import StopFlag, run_service
from predict_stream.backfill import run_next_job
from predict_stream.worker import ModelPool, PredictWorker, run_forever

log = logging.getLogger("predict_stream")


def _backfills(settings: Settings, stop: StopFlag) -> None:
    url = settings.require_database_url()
    while not stop.is_set():
        try:
            if run_next_job(url) is None:
                stop.wait(settings.predict_interval_s * 2)
        except Exception:  # a database hiccup must not kill the thread
            log.exception("backfill poll failed")
            stop.wait(5.0)


def main(settings: Settings, stop: StopFlag) -> None:
    url = settings.require_database_url()
    consumer = make_consumer(settings, settings.predict_group_id, WINDOWS_TOPIC)
    producer = make_producer(settings)
    worker = PredictWorker(url, ModelPool(url), consumer, producer, PREDICTIONS_TOPIC, settings.predict_max_batch)
    threading.Thread(target=_backfills, args=(settings, stop), name="backfill", daemon=True).start()
    try:
        run_forever(worker, settings.predict_interval_s, stop.is_set)
    finally:
        consumer.close(autocommit=False)
        producer.close(timeout=5)


if __name__ == "__main__":
    run_service("predict_stream", main)
