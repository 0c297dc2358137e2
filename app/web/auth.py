"""Log in and out, who the current user is (session cookie or API token), and `requires_role`.

Roles are ordered viewer < operator < admin.  Every route but login and health carries
`requires_role`; a test walks the URL map to keep it so.  Failed logins are written to the
audit log, and the same table is what rate-limits them (per name and address, and per address
across names), so the limits hold across gunicorn workers without another store.  A login
session carries the user's session version; logout and deactivation bump it, so a cookie
captured before stops working.  An API token is one of the user's named tokens (`api_tokens`): a
read-scope one may only GET/HEAD, an expired or revoked one is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from app.web.extensions import db, login_manager
from oceanwatch.access.accounts import authenticate, end_sessions, has_role, session_holder, token_holder
from oceanwatch.db.audit import record
from oceanwatch.db.models import AuditLog, User

bp = Blueprint("auth", __name__)

LOGIN_FAILURES_ALLOWED = 5
# Across names: a password spray from one address hits this long before it covers many accounts.
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_FAILURE_WINDOW = dt.timedelta(minutes=1)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Account:
    """What Flask-Login keeps for a request: the user's id, name, role and session version (not an ORM object)."""

    id: int
    username: str
    role: str
    session_version: int
    via_token: bool = False
    token_scope: str | None = None  # the API token's scope ('read' or 'write') when via_token
    is_active: bool = True
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        """Stored in the session cookie: with the version in it, a bumped version refuses the cookie."""
        return f"{self.id}:{self.session_version}"

    def can(self, role: str) -> bool:
        return has_role(self.role, role)

    @classmethod
    def of(cls, user: User, token_scope: str | None = None) -> "Account":
        return cls(
            user.id,
            user.username,
            user.role,
            user.session_version,
            via_token=token_scope is not None,
            token_scope=token_scope,
        )


@login_manager.user_loader
def _load_user(session_id: str) -> Account | None:
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None  # a cookie from before session versions: log in again
    user = session_holder(db.session, int(user_id), int(version))
    return Account.of(user) if user is not None else None


@login_manager.request_loader
def _load_from_token(req: Any) -> Account | None:
    header = req.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    held = token_holder(db.session, header[7:].strip())
    if held is None:
        return None  # unknown, expired or revoked: anonymous, so the route answers 401
    user, token = held
    if db.session.dirty:  # last_used_at was due (at most once a minute per token)
        db.session.commit()
    return Account.of(user, token_scope=token.scope)


@bp.before_app_request
def _read_only_tokens_only_read() -> Any:
    """A read-scope token may only GET/HEAD: refused here, before any view, with the reason."""
    if (
        request.method not in READ_METHODS
        and request.headers.get("Authorization")
        and current_user.is_authenticated
        and current_user.token_scope == "read"
    ):
        return jsonify(error=f"this API token is read-only; {request.method} needs a write-scope token"), 403
    return None


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    if _wants_json():
        return jsonify(error="authentication required"), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def requires_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse anonymous users (login redirect, or 401 for the API) and users below `role` (403)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(role):
                if _wants_json():
                    return jsonify(error=f"requires role {role}"), 403
                abort(403)
            return view(*args, **kwargs)

        guarded.required_role = role  # type: ignore[attr-defined]  # so a test can check that every view is guarded
        return guarded

    return decorate


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def recent_failures(ip: str, username: str | None = None) -> int:
    """Failed logins from this address in the last window, for one name or (None) across all names."""
    since = dt.datetime.now(dt.timezone.utc) - LOGIN_FAILURE_WINDOW
    query = (
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "auth.login_failed", AuditLog.details["ip"].astext == ip, AuditLog.time >= since)
    )
    if username is not None:
        query = query.where(AuditLog.target_id == username)
    return db.session.scalar(query) or 0


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login would be a phishing aid."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("home.page")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("web/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    ip = _client_ip()
    if recent_failures(ip, username) >= LOGIN_FAILURES_ALLOWED or recent_failures(ip) >= LOGIN_FAILURES_PER_ADDRESS:
        return render_template(
            "web/login.html",
            next=request.form.get("next", ""),
            error="Too many failed logins; wait a minute and try again.",
        ), 429
    user = authenticate(db.session, username, password)
    if user is None:
        record(db.session, None, "auth.login_failed", "user", username, ip=ip)
        db.session.commit()
        return render_template(
            "web/login.html", next=request.form.get("next", ""), error="Unknown user or wrong password."
        ), 401
    record(db.session, user.id, "auth.login", "user", user.id, ip=ip)
    db.session.commit()
    login_user(Account.of(user))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
@requires_role("viewer")
def logout() -> Any:
    """Ends this user's sessions server-side (all of them: a copied cookie is refused too)."""
    end_sessions(db.session, int(current_user.id))
    db.session.commit()
    logout_user()
    flash("Logged out.")
    return redirect(url_for("auth.login"))


def current_user_id() -> int | None:
    return int(current_user.id) if current_user.is_authenticated else None


@bp.app_context_processor
def _inject_user() -> dict[str, Any]:
    return {"user": current_user}
