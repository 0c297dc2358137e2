"""Synthetic windows for tests and benchmarks: real rows in Postgres plus the messages ingest would publish.

Features are random, which is all the predict stream's speed and bookkeeping depend on.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from kafka import KafkaProducer
from sqlalchemy.dialects.postgresql import insert

from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Hydrophone, Spectrogram, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.messages import PackedArray, WindowMessage, to_epoch_ms

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def store_windows(
    settings: Settings,
    count: int,
    first: int = 0,
    spec: FeatureSpec = DEFAULT_SPEC,
    seed: int = 0,
    hydrophones: int = 1,
    features: np.ndarray | None = None,
) -> list[WindowMessage]:
    """Insert `count` windows (22.5 s apart, spread over `hydrophones` sensors) with random features,
    or with `features` (count x spec.input_shape) when given."""
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    names = [settings.hydrophone.id] + [f"H{i}" for i in range(1, hydrophones)]
    rng = np.random.default_rng(seed + first)
    messages = []
    with session_scope(settings.database_url) as session:
        session.execute(
            insert(Hydrophone)
            .values(
                [
                    {"id": n, "name": n, "latitude": 36.7, "longitude": -122.2, "channels": 1, "description": ""}
                    for n in names
                ]
            )
            .on_conflict_do_nothing()
        )
        for k in range(first, first + count):
            start = T0 + dt.timedelta(seconds=22.5 * k)
            sensor = names[k % len(names)]
            window = Window(
                hydrophone_id=sensor,
                start_time=start,
                end_time=start + dt.timedelta(seconds=spec.window_seconds),
                sample_rate=spec.sample_rate,
                channels=spec.channels,
                source="test",
            )
            session.add(window)
            session.flush()
            values = features[k - first] if features is not None else rng.normal(size=spec.input_shape)
            packed = PackedArray.pack(values, "float16")
            session.add(
                Spectrogram(
                    window_id=window.id,
                    spec_hash=spec.hash,
                    dtype=packed.dtype,
                    shape=list(packed.shape),
                    data=packed.data,
                )
            )
            messages.append(
                WindowMessage(
                    window_id=window.id,
                    hydrophone_id=sensor,
                    start_ms=to_epoch_ms(start),
                    end_ms=to_epoch_ms(window.end_time),
                    sample_rate=spec.sample_rate,
                    channels=spec.channels,
                    clip_path=None,
                    features={spec.hash: packed},
                )
            )
    return messages


def publish(producer: KafkaProducer, topic: str, messages: list[WindowMessage]) -> None:
    for message in messages:
        producer.send(topic, key=message.hydrophone_id.encode(), value=message.encode())
    producer.flush()
