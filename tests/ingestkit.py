"""The watched-directory ingest a test drives by hand (pytest plugin: the `topic` and `ingest` fixtures),
with the helpers that go with it: a settable clock, test noise, and the stored windows.

`ingest` is imported inside the fixture, not at the top: this module is loaded as a plugin by every
test session, and the ingest service's imports (the audio stack) would otherwise be loaded before
TensorFlow in processes that never ingest, which changed how a predict test's model ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import pytest
from sqlalchemy import select

from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import make_producer

if TYPE_CHECKING:
    from ingest.directory import DirectorySource

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)  # on the 22.5 s grid


class Clock:
    """A monotonic clock the test moves by hand (files become "stable" when it says so)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def topic(new_topic: Callable[..., str]) -> str:
    return new_topic("windows")


@pytest.fixture
def ingest(settings: Settings, topic: str) -> Iterator[tuple[DirectorySource, Clock]]:
    from ingest.service import make_ingestor
    from ingest.sites import make_directory_source

    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    settings = settings.updated(ingest={"stable_s": 2.0})
    producer = make_producer(settings)
    source = make_directory_source(settings, make_ingestor(settings, producer, topic))
    clock = Clock()
    source.clock = clock
    yield source, clock
    producer.close()


def noise(seconds: float, sample_rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A 300 Hz tone in white noise, float32 frames x channels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.2 * np.sin(2 * np.pi * 300 * t)[:, None]
    return (tone + 0.1 * rng.normal(size=(t.size, channels))).astype(np.float32)


def poll_until_stable(source: DirectorySource, clock: Clock) -> None:
    """Two polls a stability period apart: the file is seen, then taken."""
    source.poll()  # first sight of the file
    clock.now += source.stable_s + 0.1
    source.poll()


def windows(url: str) -> list[Window]:
    with session_scope(url) as session:
        return list(session.scalars(select(Window).order_by(Window.start_time)))
