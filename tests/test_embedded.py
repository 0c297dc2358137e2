"""The embedded Postgres and broker start, are reused when already running, and stop."""

from pathlib import Path

import psycopg2
import pytest

from oceanwatch.config import Settings
from oceanwatch.kafka import admin_client
from oceanwatch.runtime.embedded import EmbeddedBroker, EmbeddedPostgres, free_port

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
    from oceanwatch.runtime.stack import up

    settings = Settings(data_dir=tmp_path, database_url=stack_env["DATABASE_URL"]).updated(
        kafka={"bootstrap_servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"]}
    )
    stack = up(settings, migrate=False)
    assert stack.started == []
    assert stack.database_url == stack_env["DATABASE_URL"]
    assert not (tmp_path / "postgres").exists()


def test_the_stack_restarts_a_killed_embedded_server_on_its_port(tmp_path: Path) -> None:
    import os
    import signal
    import time

    from oceanwatch.runtime.stack import up

    stack = up(
        Settings(data_dir=tmp_path, database_url="").updated(
            kafka={"bootstrap_servers": ""}, embedded={"pg_port": 0, "kafka_port": 0}
        ),
        migrate=False,
    )  # its own servers, even under the stack runner
    pg, broker = stack.started
    stack.supervise(poll_s=0.2)

    def back(server: EmbeddedPostgres | EmbeddedBroker, old_pid: int, serves) -> bool:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pid = server._running_pid()
            if pid is not None and pid != old_pid:
                try:
                    serves()
                    return True
                except Exception:
                    pass
            time.sleep(0.5)
        return False

    def broker_serves() -> None:
        admin = admin_client(broker.bootstrap)
        try:
            assert "acoustic.windows" in admin.list_topics()  # its topics are back too
        finally:
            admin.close()

    def postgres_serves() -> None:
        psycopg2.connect(
            host="127.0.0.1", port=pg.port, user="postgres", dbname="oceanwatch", connect_timeout=2
        ).close()

    try:
        for server, serves in ((broker, broker_serves), (pg, postgres_serves)):
            old_pid = server._running_pid()
            assert old_pid is not None
            os.kill(old_pid, signal.SIGKILL)
            assert back(server, old_pid, serves), f"{type(server).__name__} was not restarted on its port"
    finally:
        stack.down()
