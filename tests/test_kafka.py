"""Produce and consume through a consumer group on the real broker, committing after the work."""

import os
import signal
import time
from collections.abc import Callable

import pytest

from oceanwatch.config import Settings
from oceanwatch.kafka import TOPICS, GroupConsumer, admin_client, ensure_topics, make_consumer, make_producer
from oceanwatch.runtime.embedded import EmbeddedBroker

pytestmark = pytest.mark.integration


def _drain(consumer, expected: int, timeout_s: float = 30.0) -> list:
    records, deadline = [], time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_platform_topics_exist(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap, 3)
    admin = admin_client(kafka_bootstrap)
    try:
        assert set(TOPICS) <= set(admin.list_topics())
    finally:
        admin.close()


def test_group_consumer_reads_everything_and_resumes_after_its_commit(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    settings = Settings().updated(kafka={"bootstrap_servers": kafka_bootstrap})
    producer = make_producer(settings)
    for i in range(30):
        producer.send(topic, key=f"hydrophone-{i % 3}".encode(), value=f"window-{i}".encode())
    producer.flush()
    producer.close()

    group = f"group-{topic}"
    consumer = make_consumer(settings, group, topic)
    first = _drain(consumer, 30)
    assert sorted(r.value for r in first) == sorted(f"window-{i}".encode() for i in range(30))
    # Same key, same partition: per-hydrophone ordering is what the key buys us.
    by_key: dict[bytes, set[int]] = {}
    for r in first:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(parts) == 1 for parts in by_key.values())
    consumer.commit()
    consumer.close()

    producer = make_producer(settings)
    producer.send(topic, key=b"hydrophone-0", value=b"late")
    producer.flush()
    producer.close()
    again = make_consumer(settings, group, topic)
    try:
        rest = _drain(again, 1)
        time.sleep(1.0)
        rest += [r for b in again.poll(timeout_ms=500).values() for r in b]
        assert [r.value for r in rest] == [b"late"]
    finally:
        again.close()


def test_uncommitted_messages_are_replayed(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    """A consumer that dies before committing loses nothing: the group reads the messages again."""
    topic = new_topic(partitions=1)
    settings = Settings().updated(kafka={"bootstrap_servers": kafka_bootstrap})
    producer = make_producer(settings)
    for i in range(5):
        producer.send(topic, value=f"m{i}".encode())
    producer.flush()
    producer.close()
    group = f"group-{topic}"
    crashed = make_consumer(settings, group, topic)
    assert len(_drain(crashed, 5)) == 5
    crashed.close(autocommit=False)
    replay = make_consumer(settings, group, topic)
    try:
        assert [r.value for r in _drain(replay, 5)] == [f"m{i}".encode() for i in range(5)]
    finally:
        replay.close()


def test_a_consumer_left_outside_its_group_is_replaced_and_reads_on(broker: EmbeddedBroker) -> None:
    """The broker hangs (SIGSTOP) before the consumer's first join: it cannot get an assignment,
    so after `rejoin_after_s` of polls outside the group it is replaced; once the broker answers
    again the fresh consumer joins and reads what was sent."""
    topic = "outside.group"
    ensure_topics(broker.bootstrap, 2, (topic,))
    settings = Settings().updated(kafka={"bootstrap_servers": broker.bootstrap})
    producer = make_producer(settings)
    producer.send(topic, key=b"h", value=b"window-1")
    producer.flush()
    producer.close()
    consumer = GroupConsumer(settings, "outside-group", topic, rejoin_after_s=3.0, request_timeout_ms=4000)
    pid = int(broker.pidfile.read_text().strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 60
        while consumer.replaced == 0 and time.monotonic() < deadline:
            consumer.poll(timeout_ms=500)
        assert consumer.replaced >= 1, "a consumer outside its group was kept"
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        assert [r.value for r in _drain(consumer, 1, timeout_s=60.0)] == [b"window-1"]
    finally:
        consumer.close()
