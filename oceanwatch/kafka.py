"""Kafka transport helpers: topic names, topic creation, and producer/consumer factories.

Consumers never auto-commit: each service commits offsets after its database write, so a
crash replays messages (and the unique keys in Postgres make the replay harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, TopicAlreadyExistsError

from oceanwatch.config import Settings

log = logging.getLogger(__name__)

WINDOWS_TOPIC = "acoustic.windows"
POSITIONS_TOPIC = "ais.positions"
PREDICTIONS_TOPIC = "predictions"
TOPICS = (WINDOWS_TOPIC, POSITIONS_TOPIC, PREDICTIONS_TOPIC)  # base names: `KafkaSettings.topic` prefixes them


def platform_topics(settings: Settings) -> tuple[str, ...]:
    """Every topic of the platform, as this deployment names them (KAFKA_TOPIC_PREFIX)."""
    return tuple(settings.kafka.topic(name) for name in TOPICS)


def admin_client(bootstrap: str, timeout_ms: int = 5000) -> KafkaAdminClient:
    """An admin client that gives up on an unreachable broker after `timeout_ms` (not the default 30 s)."""
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
        client_id="oceanwatch-admin",
    )


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


# Short producer timeouts for services that must not wait on an absent broker: a batch fails in
# seconds (not the client's default minutes) and the caller keeps it for later.
FAST_FAIL_TIMEOUTS = dict(
    max_block_ms=5000, request_timeout_ms=10000, delivery_timeout_ms=15000, bootstrap_timeout_ms=5000
)


class Publisher:
    """Sends batches and says which records the broker acknowledged; a failing producer is replaced.

    A producer whose broker went away or was restarted (memory storage: `UnknownProducerId`
    for every later batch) never recovers by itself, so after any failure it is closed and a
    fresh one is made for the retry (with backoff).  Nothing is dropped silently: the caller
    learns exactly which records were acknowledged and keeps the others (ingest's outbox).
    """

    def __init__(
        self,
        settings: Settings,
        producer: KafkaProducer | None = None,
        attempts: int = 3,
        backoff_s: float = 1.0,
        **overrides: Any,
    ) -> None:
        """`producer`, if given, is used until it fails; replacements are `make_producer(settings, **overrides)`."""
        self._settings, self._overrides = settings, overrides
        self.attempts, self.backoff_s = attempts, backoff_s
        # A hung broker (connections open, no answers) must fail an attempt too, not only a refusing
        # one: a flush waits at most the delivery timeout and a little more.
        delivery_ms = overrides.get("delivery_timeout_ms")
        self.flush_timeout_s = delivery_ms / 1000 + 5 if delivery_ms else None
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
                producer.flush(timeout=self.flush_timeout_s)
            except KafkaError as exc:  # no broker, metadata timeout: nothing sent here is trusted
                error, futures = exc, []
            for i, future in futures:
                if future.succeeded():
                    acked[i] = True
                elif error is None:
                    error = future.exception
            if error is not None:
                log.warning(
                    "publishing to %s failed (attempt %d of %d), recreating the producer: %r",
                    topic,
                    attempt + 1,
                    self.attempts,
                    error,
                )
                self._discard()
        return acked

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class PublishQueue:
    """Records handed over here are sent in order by a background thread: the caller never waits for the broker.

    For data whose record is already in Postgres (AIS positions): while the broker is away the
    service goes on storing, and what it stored goes out when the broker returns.  Unacknowledged
    records stay at the head of the queue and are retried with backoff.  The queue is bounded by
    `max_pending`; beyond it the oldest records are dropped from publication (they stay stored)
    and counted, never silently.  A crash loses what was still queued, not what was stored.
    """

    def __init__(
        self, publisher: Publisher, topic: str, max_pending: int = 200_000, batch: int = 2000, retry_max_s: float = 30.0
    ) -> None:
        self.publisher, self.topic = publisher, topic
        self.max_pending, self.batch, self.retry_max_s = max_pending, batch, retry_max_s
        self.published = self.dropped = self.failures = 0
        self._pending: deque[tuple[bytes | None, bytes]] = deque()
        self._sending = 0  # records taken from the queue and not yet settled
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"publish-{topic}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending) + self._sending

    def put(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        with self._cond:
            self._pending.extend(records)
            overflow = len(self._pending) - self.max_pending
            if overflow > 0:
                for _ in range(overflow):
                    self._pending.popleft()
                self.dropped += overflow
                log.error(
                    "%s: %d records dropped from publication after the queue reached %d (they stay stored)",
                    self.topic,
                    overflow,
                    self.max_pending,
                )
            self._cond.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Wait until everything put so far was acknowledged; False if `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._sending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """One last chance to send what is queued (up to `timeout_s`), then stop; what is left is counted."""
        self.drain(timeout_s)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout_s + 20)
        if self._pending:
            log.error("%s: %d records not published at shutdown (they stay stored)", self.topic, len(self._pending))
        self.publisher.close()

    def _loop(self) -> None:
        delay = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                records = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
                self._sending = len(records)
            try:
                acked = self.publisher.send_batch(self.topic, records)
            except Exception:  # never let the thread die: the records go back and are retried
                log.exception("publishing to %s failed", self.topic)
                acked = [False] * len(records)
            failed = [r for r, ok in zip(records, acked) if not ok]
            with self._cond:
                self.published += len(records) - len(failed)
                self._pending.extendleft(reversed(failed))
                self._sending = 0
                self._cond.notify_all()
            if failed:
                self.failures += 1
                delay = min(self.retry_max_s, max(0.5, delay * 2))
                with self._cond:
                    self._cond.wait_for(lambda: self._closing, timeout=delay)
            else:
                delay = 0.0


def make_consumer(
    settings: Settings, group_id: str, *topics: str, listener: AssignmentLog | None = None, **overrides: Any
) -> KafkaConsumer:
    """A group consumer with manual commits and the short session timeout the broker needs."""
    options: dict[str, Any] = dict(
        bootstrap_servers=settings.require_kafka(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=max(500, settings.kafka.session_timeout_ms // 3),
        max_partition_fetch_bytes=8 * 1024 * 1024,
        client_id=f"oceanwatch-{group_id}",
    )
    options.update(overrides)
    consumer = KafkaConsumer(**options)
    if topics:
        consumer.subscribe(list(topics), listener=listener or AssignmentLog(group_id))
    return consumer


class AssignmentLog(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python ships no type hints
    """Logs which partitions this member of a group owns after each rebalance: with several workers
    in one group (scale-out), the logs say who serves what, and when a dead member's share moved.

    It also says whether the member is inside the group: not before its first assignment nor
    after a revocation; an empty assignment (more workers than partitions) counts as inside.
    """

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.inside = False

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.inside = False
        if revoked:
            log.info("group %s: partitions revoked: %s", self.group_id, _partitions(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.inside = True
        log.info("group %s: partitions assigned: %s", self.group_id, _partitions(assigned))


class GroupConsumer:
    """A group consumer that is replaced when it stays outside its group too long.

    A memory-storage broker that was killed and restarted recreates the topics; a kafka-python
    consumer whose rejoin began before that can wait for an assignment that never comes (seen in
    the fault suite: revoked, then nothing for minutes).  After `rejoin_after_s` without one the
    consumer is closed uncommitted and a fresh one joins; what it missed is replayed from the
    committed offsets.  The wait is counted from the first poll that found the member outside, so
    a slow start (models loading, a long reconcile before the first poll) is not taken for one.
    """

    def __init__(
        self, settings: Settings, group_id: str, *topics: str, rejoin_after_s: float | None = None, **overrides: Any
    ) -> None:
        self._settings, self._group, self._topics, self._overrides = settings, group_id, topics, overrides
        self.rejoin_after_s = rejoin_after_s or max(30.0, 5 * settings.kafka.session_timeout_ms / 1000)
        self.replaced = 0
        self._listener: AssignmentLog  # set by _make, with the consumer it listens to
        self._outside_since: float | None = None
        self._consumer: KafkaConsumer | None = None
        try:
            self._consumer = self._make()
        except KafkaError as exc:  # no broker yet: the first poll tries again
            log.warning("group %s: no consumer yet: %r", group_id, exc)

    def _make(self) -> KafkaConsumer:
        self._listener, self._outside_since = AssignmentLog(self._group), None
        return make_consumer(self._settings, self._group, *self._topics, listener=self._listener, **self._overrides)

    def _stuck(self) -> bool:
        if self._listener.inside:
            self._outside_since = None
            return False
        now = time.monotonic()
        if self._outside_since is None:
            self._outside_since = now
        return now - self._outside_since > self.rejoin_after_s

    def poll(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Any]]:
        """Records by partition, as KafkaConsumer.poll; a consumer stuck outside its group is replaced first."""
        if self._consumer is None or self._stuck():
            if self._consumer is not None:
                log.warning(
                    "group %s: no assignment for %.0f s, replacing the consumer", self._group, self.rejoin_after_s
                )
                self.close()
                self.replaced += 1
            try:
                self._consumer = self._make()
            except KafkaError as exc:  # no broker yet: the next poll tries again
                log.warning("group %s: a new consumer could not be made: %r", self._group, exc)
                time.sleep(timeout_ms / 1000)
                return {}
        assert self._consumer is not None
        polled: dict[Any, list[Any]] = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return polled

    def commit(self) -> None:
        if self._consumer is not None:
            self._consumer.commit()

    def close(self, autocommit: bool = False) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=autocommit)
            except Exception:  # a stuck consumer may fail to close; it is dropped either way
                log.debug("closing a consumer failed", exc_info=True)
            self._consumer = None


def _partitions(tps: Any) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{t}{sorted(p)}" for t, p in sorted(by_topic.items())) or "none"
