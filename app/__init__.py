"""The web app: Flask application factory.

Configuration comes from `oceanwatch.config.Settings` (the environment), optionally
overridden by `overrides` (tests).  Blueprints hold the routes, one module per area.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from oceanwatch.config import Settings, get_settings
from oceanwatch.db.migrate import MIGRATIONS_DIR


def create_app(overrides: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        SQLALCHEMY_DATABASE_URI=settings.database_url or "postgresql+psycopg2://unset/unset",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        OCEANWATCH_SETTINGS=settings,
    )
    if overrides:
        app.config.update(overrides)

    from app.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))

    from app.health import bp as health_bp

    app.register_blueprint(health_bp)
    return app
