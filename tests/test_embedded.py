"""The embedded Postgres and broker start, are reused when already running, and stop."""

from pathlib import Path

import psycopg2
import pytest

from oceanwatch.config import Settings
from oceanwatch.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from oceanwatch.kafka import admin_client

pytestmark = pytest.mark.integration


def test_embedded_postgres_lifecycle(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path, free_port())
    assert pg.start() is True
    try:
        assert pg.start() is False  # already running: reused, not started twice
        conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="oceanwatch")
        with conn.cursor() as cur:
            cur.execute("select current_setting('server_version_num')::int")
            assert cur.fetchone()[0] >= 180000
        conn.close()
    finally:
        pg.stop()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="oceanwatch", connect_timeout=2)


def test_embedded_broker_lifecycle(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path, free_port())
    assert broker.start() is True
    try:
        assert broker.start() is False
        admin = admin_client(broker.bootstrap)
        admin.close()
    finally:
        broker.stop()
    assert not broker.pidfile.exists()


def test_external_urls_start_nothing(stack_env: dict[str, str], tmp_path: Path) -> None:
    from oceanwatch.stack import up

    settings = Settings(data_dir=tmp_path, database_url=stack_env["DATABASE_URL"],
                        kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    stack = up(settings, migrate=False)
    assert stack.started == []
    assert stack.database_url == stack_env["DATABASE_URL"]
    assert not (tmp_path / "postgres").exists()
