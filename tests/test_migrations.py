"""The migration creates exactly the schema the models describe, on an empty Postgres."""

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from oceanwatch.db.migrate import alembic_config, upgrade
from oceanwatch.db.models import Base

pytestmark = pytest.mark.integration


def test_upgrade_creates_every_model_table_and_matches_the_models(empty_database: str) -> None:
    upgrade(empty_database)
    engine = create_engine(empty_database)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_reference_data_is_seeded(empty_database: str) -> None:
    upgrade(empty_database)
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            classes = conn.execute(text("select code from ship_classes order by sort_order")).scalars().all()
            cargo = conn.execute(text("select class_code from class_mappings where ship_type = 70")).scalar_one()
            count = conn.execute(text("select count(*) from class_mappings")).scalar_one()
        assert classes == ["A", "B", "C", "D", "E"]
        assert cargo == "D" and count == 100
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(empty_database: str) -> None:
    from alembic import command

    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "base")
    engine = create_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(empty_database)
        assert "predictions" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_flask_db_upgrade_works_on_an_empty_database(empty_database: str, kafka_bootstrap: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "FLASK_APP": "app", "SECRET_KEY": "test"}
    result = subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            head = ScriptDirectory.from_config(alembic_config(empty_database)).get_current_head()
            assert conn.execute(text("select version_num from alembic_version")).scalar_one() == head
    finally:
        engine.dispose()


def test_concurrent_upgrades_are_serialised(empty_database: str) -> None:
    """Services starting together each run `upgrade`; the advisory lock makes that safe."""
    code = "import sys; from oceanwatch.db.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, empty_database], stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
