"""Alembic environment for both `flask db` (inside an app context) and oceanwatch.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from oceanwatch.db.models import Base

config = context.config
target_metadata = Base.metadata
# A fixed key for pg_advisory_lock: services starting together migrate one at a time.
MIGRATION_LOCK_KEY = 741_852_963


def database_url() -> str:
    try:
        from flask import current_app

        return current_app.config["SQLALCHEMY_DATABASE_URI"]
    except (ImportError, RuntimeError, KeyError):
        return config.get_main_option("sqlalchemy.url")


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("select pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("select pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
