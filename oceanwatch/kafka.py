"""Kafka transport helpers: topic names, topic creation, and producer/consumer factories.

Consumers never auto-commit: each service commits offsets after its database write, so a
crash replays messages (and the unique keys in Postgres make the replay harmless).
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

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
