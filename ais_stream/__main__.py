"""Entry point: `python -m ais_stream` reads the configured AIS source into Postgres and Kafka."""

from __future__ import annotations

from ais_stream.service import AisPipeline, open_source, run
from ais_stream.store import last_stored_time
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import FAST_FAIL_TIMEOUTS, POSITIONS_TOPIC, Publisher, PublishQueue, ensure_topics
from oceanwatch.runtime.service import StopFlag, run_service


def main(settings: Settings, stop: StopFlag) -> None:
    url = settings.require_database_url()
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    ensure_topics(settings.require_kafka(), settings.kafka.partitions, (settings.kafka.topic(POSITIONS_TOPIC),))
    engine = engine_for(url)
    with engine.connect() as conn:
        source = open_source(settings, stop, last_stored_time(conn, settings.ais.source))
    outbox = PublishQueue(Publisher(settings, attempts=1, **FAST_FAIL_TIMEOUTS), settings.kafka.topic(POSITIONS_TOPIC))
    try:
        pipeline = AisPipeline(engine, outbox, settings.ais.source)
        run(pipeline, source, stop, settings.ais.batch_size, settings.ais.batch_wait_s)
    finally:
        outbox.close(timeout_s=5)


if __name__ == "__main__":
    run_service("ais_stream", main)
