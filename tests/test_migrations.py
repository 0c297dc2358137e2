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
    env = {
        **os.environ,
        "DATABASE_URL": empty_database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FLASK_APP": "app",
        "SECRET_KEY": "test",
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
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
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_database], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors


def test_api_tokens_migration_keeps_the_old_per_user_token_working(
    empty_database: str, kafka_bootstrap: str, tmp_path
) -> None:
    """0012 moves users.api_token_hash into api_tokens: a token issued before the upgrade still works."""
    from alembic import command

    from app import create_app
    from oceanwatch.access.accounts import TOKEN_PREFIX, hash_token
    from oceanwatch.config import Settings

    before = ScriptDirectory.from_config(alembic_config(empty_database)).get_revision("0012").down_revision
    upgrade(empty_database, before)
    token = TOKEN_PREFIX + "issued-before-named-tokens-existed"
    engine = create_engine(empty_database)
    try:
        with engine.begin() as conn:  # the shape the old issue_token left: one hash on the user's row
            conn.execute(
                text(
                    "insert into users (username, password_hash, role, active, api_token_hash) "
                    "values ('olduser', 'x', 'operator', true, :hash)"
                ),
                {"hash": hash_token(token)},
            )
        upgrade(empty_database)
        with engine.connect() as conn:
            moved = conn.execute(text("select name, scope from api_tokens")).all()
        assert moved == [("default", "write")]
        app = create_app(
            settings=Settings(
                database_url=empty_database, data_dir=tmp_path, secret_key="test", log_format="text"
            ).updated(kafka={"bootstrap_servers": kafka_bootstrap})
        )
        me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json["username"] == "olduser", me.get_data(as_text=True)
        with app.app_context():
            from app.web.extensions import db

            db.engine.dispose()
        command.downgrade(alembic_config(empty_database), before)  # and back: the token returns to the user
        with engine.connect() as conn:
            assert conn.execute(text("select api_token_hash from users")).scalar_one() == hash_token(token)
    finally:
        engine.dispose()
