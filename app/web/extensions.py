"""Flask extensions, created unbound and attached in `create_app` (the factory pattern)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from oceanwatch.db import engine_for
from oceanwatch.db.models import Base


class _OneEngineSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy on the process's one engine per URL (`oceanwatch.db.engine_for`).

    The request session and the core functions the app calls (health checks, Prometheus, jobs) then
    share one connection pool per web worker instead of each opening its own.  `_make_engine` is
    Flask-SQLAlchemy's documented hook for how engines are made (private; the version is pinned).
    """

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> Engine:
        return engine_for(make_url(options["url"]).render_as_string(hide_password=False))


db = _OneEngineSQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
