"""The web app: Flask application factory.

Configuration comes from `oceanwatch.config.Settings` (the environment), optionally
overridden by `overrides` (tests).  The app is one package per area (live, scores, data, models,
review, classify, training, export, jobs, users, backups), each holding its pages, its /api/v1
routes and the logic both share; `app.web` holds the plumbing every area uses and `app.api` the
API blueprint.  `create_app` names every blueprint and every area's API routes below, so a new
area is one more package and one more line in each list.
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
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        OCEANWATCH_SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,
    )
    if overrides:
        app.config.update(overrides)
    if settings.web.proxy_hops > 0:  # the client's address (login limits) and scheme come from the proxy
        hops = settings.web.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from app.api import blueprint as api
    from app.backups import pages as backups_pages
    from app.classify import api as classify_api
    from app.classify import pages as classify_pages
    from app.data import api as data_api
    from app.data import pages as data_pages
    from app.events import api as events_api
    from app.export import api as export_api
    from app.home import pages as home_pages
    from app.jobs import api as jobs_api
    from app.live import api as live_api
    from app.live import pages as live_pages
    from app.models import api as models_api
    from app.models import pages as models_pages
    from app.review import api as review_api
    from app.review import pages as review_pages
    from app.scores import api as scores_api
    from app.scores import pages as scores_pages
    from app.sites import api as sites_api
    from app.sites import pages as sites_pages
    from app.training import api as training_api
    from app.training import pages as training_pages
    from app.users import api as users_api
    from app.users import cli
    from app.users import pages as users_pages
    from app.web import auth, bokeh_assets, errors, health, prometheus, security_headers, session_cookie, upload_limit
    from app.web.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    login_manager.init_app(app)
    csrf.init_app(app)

    for module in (
        health,
        auth,
        home_pages,
        live_pages,
        models_pages,
        scores_pages,
        data_pages,
        sites_pages,
        review_pages,
        classify_pages,
        training_pages,
        bokeh_assets,
        users_pages,
        backups_pages,
        prometheus,
    ):
        app.register_blueprint(module.bp)
    api.register(
        app,
        (
            users_api.routes,
            models_api.routes,
            live_api.routes,
            scores_api.routes,
            data_api.routes,
            sites_api.routes,
            jobs_api.routes,
            review_api.routes,
            events_api.routes,
            classify_api.routes,
            training_api.routes,
            export_api.routes,
        ),
    )
    errors.init_app(app)
    upload_limit.init_app(app)
    session_cookie.init_app(app, app.config.get("WEB_COOKIE_SECURE", settings.web.cookie_secure))
    security_headers.init_app(app)
    app.cli.add_command(cli.cli)
    return app
