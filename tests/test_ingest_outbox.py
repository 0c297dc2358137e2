"""Ingest loses no audio while the broker is away: windows are stored first, published by the outbox
when it returns (in order, once each), through a producer that is replaced when it fails; a restarted
simulator resumes from its last stored window however long it was away."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
import uuid

import numpy as np
import pytest
from sqlalchemy import select

from ingest.service import make_ingestor, run
from ingest.simulator import SimulatorSource
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import WINDOWS_TOPIC, ensure_topics, make_consumer, make_producer
from oceanwatch.messages import WindowMessage
from oceanwatch.runtime.embedded import EmbeddedBroker
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.scenario import DEFAULT_SITE, Scenario
from oceanwatch.testing.waiting import wait_for
from tests.brokerkit import restart

pytestmark = pytest.mark.integration


def windows(settings: Settings) -> list[Window]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Window).order_by(Window.id)))


def published_ids(settings: Settings, topic: str) -> list[int]:
    """Every window id on the topic, from the beginning, in the order of the (single) key's partition."""
    consumer = make_consumer(settings, f"t-{uuid.uuid4().hex[:6]}", topic, consumer_timeout_ms=8000)
    try:
        return [WindowMessage.decode(record.value).window_id for record in consumer]
    finally:
        consumer.close()


def test_windows_stored_while_the_broker_is_away_are_published_once_in_order_when_it_returns(
    settings: Settings, broker: EmbeddedBroker
) -> None:
    settings = settings.updated(
        kafka={"bootstrap_servers": broker.bootstrap},
        ingest={"source": "simulator", "clips": False},
        simulator={"speed": 100.0},
    )
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: sum(w.published_at is not None for w in windows(settings)) >= 3, timeout_s=120.0)
        broker.stop()  # memory storage: what it had is gone; what it acknowledged is marked published
        outage_start = len(windows(settings))
        assert wait_for(lambda: len(windows(settings)) >= outage_start + 8 or not thread.is_alive(), timeout_s=120.0)
        assert thread.is_alive(), "ingest stopped while the broker was away"
        acked_before = max(w.id for w in windows(settings) if w.published_at is not None)
        waiting = [w.id for w in windows(settings) if w.published_at is None]
        assert len(waiting) >= 8 and waiting == [w.id for w in windows(settings) if w.id > acked_before]
        restart(broker, settings.kafka.partitions, (WINDOWS_TOPIC,))
        assert wait_for(
            lambda: all(w.published_at is not None for w in windows(settings)) or not thread.is_alive(), timeout_s=120.0
        )
        assert thread.is_alive(), "ingest stopped when the broker came back"
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    stored = windows(settings)
    starts = sorted(w.start_time.timestamp() for w in stored)
    assert len(set(starts)) == len(starts) and np.allclose(np.diff(starts), 22.5)  # every window, once
    assert all(w.published_at is not None for w in stored)
    # Everything not acknowledged before the outage went out after it: once each, oldest first.
    assert published_ids(settings, WINDOWS_TOPIC) == [w.id for w in stored if w.id > acked_before]


def test_a_hung_broker_does_not_hold_up_the_storing_of_windows(settings: Settings, broker: EmbeddedBroker) -> None:
    """SIGSTOP: the broker's connections stay open and nothing answers, as behind a dead network.

    Batches of two windows come every half second of wall time, so the writer, not the outbox
    thread, would be the first to meet the hung broker if it published itself.
    """
    settings = settings.updated(
        kafka={"bootstrap_servers": broker.bootstrap},
        ingest={"source": "simulator", "clips": False, "batch_windows": 2},
        simulator={"speed": 100.0},
    )
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
    thread.start()
    pid = int(broker.pidfile.read_text().strip())
    try:
        assert wait_for(lambda: sum(w.published_at is not None for w in windows(settings)) >= 3, timeout_s=120.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            hung_at = len(windows(settings))
            time.sleep(25.0)  # the producer's timeouts add up to more than this (3 attempts of 15 s)
            during = windows(settings)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert len(during) >= hung_at + 30, f"{len(during) - hung_at} windows stored in 25 s of a hung broker"
        assert any(w.published_at is None for w in during)
        assert wait_for(
            lambda: all(w.published_at is not None for w in windows(settings)) or not thread.is_alive(), timeout_s=120.0
        )
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


def test_a_simulator_restarted_after_a_long_outage_resumes_from_its_last_window(settings: Settings) -> None:
    anchor = dt.datetime.now(dt.timezone.utc).isoformat()
    settings = settings.updated(
        ingest={"source": "simulator", "clips": False}, simulator={"speed": 100.0, "anchor": anchor}
    )
    for run_no in range(2):
        stop = StopFlag()
        thread = threading.Thread(target=run, args=(settings, stop), kwargs={"report_every_s": 1.0}, daemon=True)
        thread.start()
        count = len(windows(settings))
        try:
            assert wait_for(lambda: len(windows(settings)) >= count + 3 or not thread.is_alive(), timeout_s=120.0)
        finally:
            stop.set()
            thread.join(60)
        if run_no == 0:
            time.sleep(2.0)  # 200 s of simulated time with no ingest: far beyond the 30-s look-back
    starts = sorted(w.start_time.timestamp() for w in windows(settings))
    assert len(starts) >= 6
    assert np.allclose(np.diff(starts), 22.5), "a gap in the windows across the outage"


def test_a_restarted_broker_costs_a_producer_not_the_windows(settings: Settings, broker: EmbeddedBroker) -> None:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    settings = settings.updated(kafka={"bootstrap_servers": broker.bootstrap}, ingest={"clips": False})
    topic = f"outbox.{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, 1, (topic,))
    producer = make_producer(settings, max_block_ms=5000, request_timeout_ms=5000, delivery_timeout_ms=8000)
    ingestor = make_ingestor(settings, producer, topic)
    stop = StopFlag()
    source = iter(
        SimulatorSource(
            Scenario(seed=settings.simulator.seed),
            DEFAULT_SITE,
            SimClock(anchor=time.time(), speed=2000.0),
            stop,
            8000,
            22.5,
            30.0,
        )
    )

    def ingest(chunks: int) -> None:
        for _ in range(chunks):
            ingestor.feed(next(source))
        ingestor.flush()

    try:
        ingest(3)
        first = [w.id for w in windows(settings)]
        assert first and all(w.published_at is not None for w in windows(settings))
        broker.stop()  # memory storage: the restarted broker does not know the producer's id
        restart(broker, 1, (topic,))
        ingest(3)  # the next publish recreates the producer and succeeds
        second = [w.id for w in windows(settings) if w.id not in first]
        assert second and all(w.published_at is not None for w in windows(settings))
        assert published_ids(settings, topic) == second
        broker.stop()
        ingest(2)  # no broker: stored, not marked published, nothing raised
        third = [w.id for w in windows(settings) if w.id not in first + second]
        assert third and all(w.published_at is None for w in windows(settings) if w.id in third)
        restart(broker, 1, (topic,))
        assert ingestor.writer.publish_pending() == len(third)
        assert published_ids(settings, topic) == third
    finally:
        stop.set()
        ingestor.close()
        producer.close()
