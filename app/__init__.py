"""The web app: Flask application factory.

Configuration comes from `oceanwatch.config.Settings` (the environment), optionally
overridden by `overrides` (tests).  Blueprints hold the routes, one module per area; a
new area (metrics, data management) is one more module and one more line below.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from oceanwatch.config import Settings, get_settings
from oceanwatch.db.migrate import MIGRATIONS_DIR

MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def create_app(overrides: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        SQLALCHEMY_DATABASE_URI=settings.database_url or "postgresql+psycopg2://unset/unset",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        OCEANWATCH_SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,
    )
    if overrides:
        app.config.update(overrides)
    if settings.web_proxy_hops > 0:  # the client's address (login limits) and scheme come from the proxy
        hops = settings.web_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from app.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    login_manager.init_app(app)
    csrf.init_app(app)

    # these declare their routes on api.bp, so they are imported before it is registered
    from app import (  # noqa: F401
        admin,
        api,
        auth,
        bokeh_assets,
        classify_pages,
        data_api,
        data_pages,
        export_api,
        health,
        live,
        metrics_api,
        metrics_pages,
        model_pages,
        prometheus,
        prototype_api,
        review_api,
        review_pages,
        security_headers,
        session_cookie,
        training_api,
        training_pages,
        upload_limit,
        users,
    )

    for module in (health, auth, live, model_pages, metrics_pages, data_pages, review_pages, classify_pages,
                   training_pages, bokeh_assets, users, admin, prometheus):
        app.register_blueprint(module.bp)
    upload_limit.init_app(app)
    session_cookie.init_app(app, app.config.get("WEB_COOKIE_SECURE", settings.web_cookie_secure))
    security_headers.init_app(app)
    csrf.exempt(api.bp)  # the API checks CSRF itself, for cookie sessions only (tokens need none)
    app.register_blueprint(api.bp)
    app.cli.add_command(users.cli)
    return app
