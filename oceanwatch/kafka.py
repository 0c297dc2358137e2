"""Kafka transport helpers: topic names, topic creation, and producer/consumer factories.

Consumers never auto-commit: each service commits offsets after its database write, so a
crash replays messages (and the unique keys in Postgres make the replay harmless).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from oceanwatch.config import Settings

log = logging.getLogger(__name__)

WINDOWS_TOPIC = "acoustic.windows"
POSITIONS_TOPIC = "ais.positions"
PREDICTIONS_TOPIC = "predictions"
TOPICS = (WINDOWS_TOPIC, POSITIONS_TOPIC, PREDICTIONS_TOPIC)


def admin_client(bootstrap: str, timeout_ms: int = 5000) -> KafkaAdminClient:
    """An admin client that gives up on an unreachable broker after `timeout_ms` (not the default 30 s)."""
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms,
                            bootstrap_timeout_ms=timeout_ms, client_id="oceanwatch-admin")


def ensure_topics(bootstrap: str, partitions: int, topics: tuple[str, ...] = TOPICS) -> list[str]:
    """Create the platform's topics that do not exist yet; returns the ones created."""
    admin = admin_client(bootstrap)
    try:
        missing = [t for t in topics if t not in set(admin.list_topics())]
        if missing:
            try:
                admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing])
            except TopicAlreadyExistsError:
                pass  # another service created it between our list and create
            log.info("created topics %s", missing)
        return missing
    finally:
        admin.close()


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """An idempotence-friendly producer: acks from all replicas, bounded in-flight requests."""
    options: dict[str, Any] = dict(
        bootstrap_servers=settings.require_kafka(),
        acks="all",
        linger_ms=5,
        retries=5,
        max_in_flight_requests_per_connection=1,
        max_request_size=4 * 1024 * 1024,
        client_id="oceanwatch",
    )
    options.update(overrides)
    return KafkaProducer(**options)


class Publisher:
    """Sends batches and says which records the broker acknowledged; a failing producer is replaced.

    A producer whose broker went away or was restarted (memory storage: `UnknownProducerId`
    for every later batch) never recovers by itself, so after any failure it is closed and a
    fresh one is made for the retry (with backoff).  Nothing is dropped silently: the caller
    learns exactly which records were acknowledged and keeps the others (ingest's outbox).
    """

    def __init__(self, settings: Settings, producer: KafkaProducer | None = None, attempts: int = 3,
                 backoff_s: float = 1.0, **overrides: Any) -> None:
        """`producer`, if given, is used until it fails; replacements are `make_producer(settings, **overrides)`."""
        self._settings, self._overrides = settings, overrides
        self.attempts, self.backoff_s = attempts, backoff_s
        self._producer = producer
        self.recreated = 0  # producers replaced after a failure (reported in the service's counts)

    def _get(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = make_producer(self._settings, **self._overrides)
        return self._producer

    def _discard(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:  # a broken producer may fail to close too; it is dropped either way
                log.debug("closing a failed producer failed", exc_info=True)
            self._producer = None
            self.recreated += 1

    def send_batch(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> list[bool]:
        """Send (key, value) records in order and flush; per record, whether the broker acknowledged it."""
        acked = [False] * len(records)
        for attempt in range(self.attempts):
            pending = [i for i, ok in enumerate(acked) if not ok]
            if not pending:
                break
            if attempt:
                time.sleep(min(30.0, self.backoff_s * 2 ** (attempt - 1)))
            error: BaseException | None = None
            try:
                producer = self._get()
                futures = [(i, producer.send(topic, key=records[i][0], value=records[i][1])) for i in pending]
                producer.flush()
            except KafkaError as exc:  # no broker, metadata timeout: nothing sent here is trusted
                error, futures = exc, []
            for i, future in futures:
                if future.succeeded():
                    acked[i] = True
                elif error is None:
                    error = future.exception
            if error is not None:
                log.warning("publishing to %s failed (attempt %d of %d), recreating the producer: %r",
                            topic, attempt + 1, self.attempts, error)
                self._discard()
        return acked

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def make_consumer(settings: Settings, group_id: str, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A group consumer with manual commits and the short session timeout the broker needs."""
    options: dict[str, Any] = dict(
        bootstrap_servers=settings.require_kafka(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(500, settings.kafka_session_timeout_ms // 3),
        max_partition_fetch_bytes=8 * 1024 * 1024,
        client_id=f"oceanwatch-{group_id}",
    )
    options.update(overrides)
    return KafkaConsumer(*topics, **options)
