"""/healthz answers always; /readyz and /status tell whether Postgres and the broker answer."""

import pytest
from alembic.script import ScriptDirectory

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db.migrate import alembic_config
from oceanwatch.embedded import free_port

pytestmark = pytest.mark.integration


def test_healthz_is_alive(settings: Settings) -> None:
    client = create_app(settings=settings).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_database_and_broker(settings: Settings) -> None:
    response = create_app(settings=settings).test_client().get("/readyz")
    assert response.status_code == 200
    checks = response.json["checks"]
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    assert checks["database"]["ok"] and f"schema {head}" in checks["database"]["detail"]
    assert checks["broker"]["ok"] and "acoustic.windows" in checks["broker"]["detail"]


def test_readyz_reports_a_dead_broker(settings: Settings) -> None:
    dead = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    response = create_app(settings=dead).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"]["ok"] is True
    assert response.json["checks"]["broker"]["ok"] is False


def test_readyz_reports_a_dead_database(settings: Settings) -> None:
    dead = settings.model_copy(update={"database_url": f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x"})
    response = create_app(settings=dead).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"]["ok"] is False


def test_status_page_shows_both_components(settings: Settings) -> None:
    html = create_app(settings=settings).test_client().get("/status").get_data(as_text=True)
    assert 'id="check-database"' in html and 'id="check-broker"' in html
    assert "All systems up" in html
