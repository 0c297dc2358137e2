"""A private broker a test may stop and restart (pytest plugin: the `broker` fixture), and `restart`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanwatch.kafka import ensure_topics
from oceanwatch.runtime.embedded import EmbeddedBroker, free_port


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A private broker (memory storage) this test may stop and restart on the same port."""
    server = EmbeddedBroker(tmp_path / "broker", free_port())
    server.start()
    yield server
    server.stop()


def restart(broker: EmbeddedBroker, partitions: int, topics: tuple[str, ...]) -> None:
    """What the stack's supervisor does with a dead broker: start it on its port, recreate the topics."""
    broker.start()
    ensure_topics(broker.bootstrap, partitions, topics)
