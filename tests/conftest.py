"""Fixtures: a real Postgres database and the real broker for every integration test.

Under `make test` the stack runner exports DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS; a bare
`pytest` brings up an embedded stack itself.  Each test session gets its own freshly
migrated database on that server, and `clean_db` empties it between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.models import ClassMapping, ShipClass
from oceanwatch.kafka import ensure_topics
from oceanwatch.testing.scratch import create_database, drop_database
from oceanwatch.truth.shipclasses import reference_rows

# Fixtures several test modules share, as plugins rather than imported across modules.
pytest_plugins = [
    "tests.aisapikit",
    "tests.brokerkit",
    "tests.browserkit",
    "tests.fleetkit",
    "tests.ingestkit",
]


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """DATABASE_URL (server) and KAFKA_BOOTSTRAP_SERVERS of a real running stack."""
    if os.environ.get("DATABASE_URL") and os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield {
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "KAFKA_BOOTSTRAP_SERVERS": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        }
        return
    from oceanwatch.runtime.stack import up

    settings = Settings(data_dir=tmp_path_factory.mktemp("stack")).updated(embedded={"pg_port": 0, "kafka_port": 0})
    stack = up(settings, migrate=False)
    try:
        yield stack.env()
    finally:
        stack.down()


@pytest.fixture
def empty_database(stack_env: dict[str, str]) -> Iterator[str]:
    """A brand-new database with no tables at all (for migration tests)."""
    name = f"ow_empty_{uuid.uuid4().hex[:10]}"
    url = create_database(stack_env["DATABASE_URL"], name)
    yield url
    drop_database(stack_env["DATABASE_URL"], name)


@pytest.fixture(scope="session")
def db_url(stack_env: dict[str, str]) -> Iterator[str]:
    """A database migrated to head, private to this test session."""
    name = f"ow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = create_database(stack_env["DATABASE_URL"], name)
    upgrade(url)
    yield url
    drop_database(stack_env["DATABASE_URL"], name)


def reset_database(url: str) -> None:
    """Empty every table and restore the reference data the migration seeded."""
    engine = engine_for(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("select tablename from pg_tables where schemaname = 'public' and tablename <> 'alembic_version'")
            )
        ]
        conn.execute(text(f"truncate {', '.join(tables)} restart identity cascade"))
        classes, mappings = reference_rows()
        conn.execute(ShipClass.__table__.insert(), classes)
        conn.execute(ClassMapping.__table__.insert(), mappings)


@pytest.fixture
def clean_db(db_url: str) -> str:
    """The session database, emptied to its just-migrated state before the test."""
    reset_database(db_url)
    return db_url


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_env: dict[str, str]) -> str:
    return stack_env["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Factory of fresh, uniquely named topics, so tests never read each other's messages."""

    def make(prefix: str = "test", partitions: int = 3) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka_bootstrap, partitions, (name,))
        return name

    return make


@pytest.fixture
def settings(clean_db: str, kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings pointing at the clean test database, the real broker and a private DATA_DIR."""
    return Settings(
        database_url=clean_db, data_dir=tmp_path / "data", secret_key="test-secret", log_format="text"
    ).updated(kafka={"bootstrap_servers": kafka_bootstrap})
