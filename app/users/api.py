"""/api/v1/me: who the caller is (token or session)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_login import current_user

from app.api.routes import Routes

routes = Routes()


@routes.route("/me", "GET", "viewer", "The authenticated user")
def me() -> Any:
    return jsonify(id=int(current_user.id), username=current_user.username, role=current_user.role)
