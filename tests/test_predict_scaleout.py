"""Scale-out: predict workers in one consumer group share the windows' partitions, and when one is
killed mid-stream the others take its partitions over: every (window, model) gets exactly one
prediction, none missing, the orphaned windows within one session timeout plus one interval."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Prediction
from oceanwatch.kafka import WINDOWS_TOPIC, ensure_topics, make_producer, platform_topics
from oceanwatch.testing.localserve import service_process
from oceanwatch.testing.synthetic import publish, store_windows
from oceanwatch.testing.waiting import wait_for
from tests.modelkit import TINY_SPEC, runnable_model

pytestmark = pytest.mark.integration

REJOIN_S = 8.0  # the survivor rejoining once the broker drops the dead member (about 3 s here; more on a busy machine)
RATE_PER_S = 4.0  # windows published per second: 90 sites' worth at one window per 22.5 s


def _assigned(log: Path) -> str | None:
    """The partitions a worker last said it owns (its group consumer logs every rebalance)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "partitions assigned: " in line]
    return lines[-1].split("partitions assigned: ", 1)[1].strip() if lines else None


def _pairs(settings: Settings) -> tuple[int, int]:
    """(prediction rows, distinct (window, model) pairs)."""
    with session_scope(settings.database_url) as s:
        rows = s.scalar(select(func.count()).select_from(Prediction))
        pairs = s.scalar(
            select(func.count()).select_from(select(Prediction.window_id, Prediction.model_id).distinct().subquery())
        )
    return int(rows or 0), int(pairs or 0)


def test_killing_one_of_two_workers_mid_stream_loses_and_doubles_nothing(settings: Settings, tmp_path: Path) -> None:
    group = f"scaleout-{uuid.uuid4().hex[:8]}"
    settings = settings.updated(
        kafka={"topic_prefix": f"{group}.", "partitions": 4},
        predict={"group_id": group, "interval_s": 0.5, "reconcile_s": 3600.0},  # Kafka alone, no reconciler
    )
    ensure_topics(settings.require_kafka(), settings.kafka.partitions, platform_topics(settings))
    models = [runnable_model(settings, tmp_path, name, method="none", passes=1) for name in ("alpha", "beta")]
    env = {**os.environ, **settings.to_env()}
    argv = [sys.executable, "-m", "predict_stream"]
    published: list[int] = []
    stop = threading.Event()

    def produce() -> None:  # ingest's part: windows stored, then published, at a steady rate from 8 sites
        producer = make_producer(settings, linger_ms=0)
        first = 0
        while not stop.is_set():
            messages = store_windows(settings, 1, first=first, spec=TINY_SPEC, hydrophones=8)
            publish(producer, settings.kafka.topic(WINDOWS_TOPIC), messages)
            published.extend(m.window_id for m in messages)
            first += 1
            time.sleep(1.0 / RATE_PER_S)
        producer.close()

    with ExitStack() as stack:
        workers = [stack.enter_context(service_process(argv, env, tmp_path / f"worker{i}.log")) for i in (0, 1)]
        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        try:
            logs = [tmp_path / f"worker{i}.log" for i in (0, 1)]
            owned = lambda: [_assigned(log) for log in logs]  # noqa: E731 - read twice below
            assert wait_for(lambda: all(a and a != "none" for a in owned()), 120), f"both own partitions: {owned()}"
            print("before the kill:", owned())
            assert wait_for(lambda: _pairs(settings)[1] >= 20 * len(models), 60)
            victim, survivor = workers
            killed_at = time.time()
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            time.sleep(settings.kafka.session_timeout_ms / 1000 + 8)  # the group moves on; windows keep coming
        finally:
            stop.set()
            producer.join(30)
        expected = len(published) * len(models)
        assert wait_for(lambda: _pairs(settings)[1] >= expected, 60), f"{_pairs(settings)} of {expected}"
        assert survivor.poll() is None, (tmp_path / "worker1.log").read_text()[-3000:]
    rows, pairs = _pairs(settings)
    assert rows == pairs == expected, "exactly one prediction per (window, model)"
    with session_scope(settings.database_url) as s:
        after = s.execute(
            select(func.extract("epoch", Prediction.created_at), Prediction.latency_ms).where(
                Prediction.created_at >= func.to_timestamp(killed_at)
            )
        ).all()
    # How long each window predicted after the kill waited since the kill (or since it was published,
    # if later): the dead worker's uncommitted and orphaned windows wait for the group to move on.
    waited_s = max(min(latency / 1000, float(created) - killed_at) for created, latency in after)
    bound_s = settings.kafka.session_timeout_ms / 1000 + settings.predict.interval_s
    print("after the kill:", _assigned(tmp_path / "worker1.log"))
    print(f"scale-out: longest wait after the kill {waited_s:.1f} s (session timeout + interval = {bound_s:.1f} s)")
    assert waited_s <= bound_s + REJOIN_S, "the dead worker's windows wait one session timeout and one interval"
