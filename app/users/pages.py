"""Users and roles: the admin's user page and each user's account page (named API tokens).

The first admin cannot be created here (nobody could log in to do it): see `app.users.cli`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.web.auth import current_user_id, requires_role
from app.web.extensions import db
from app.web.forms import submit
from oceanwatch.access.accounts import (
    MAX_TOKEN_DAYS,
    ROLES,
    TOKEN_SCOPES,
    AccountError,
    create_user,
    issue_token,
    revoke_token,
    set_active,
    set_role,
    user_tokens,
)
from oceanwatch.db.models import User

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/")
@requires_role("admin")
def index() -> Any:
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users/users.html", users=users, roles=ROLES)


@bp.post("/")
@requires_role("admin")
def create() -> Any:
    submit(
        lambda: create_user(
            db.session,
            request.form.get("username", ""),
            request.form.get("password", ""),
            request.form.get("role", "viewer"),
            actor_id=current_user_id(),
        ),
        f"Created user {request.form.get('username')}.",
        (AccountError,),
    )
    return redirect(url_for("users.index"), 303)


@bp.post("/<int:user_id>/role")
@requires_role("admin")
def change_role(user_id: int) -> Any:
    if user_id == current_user_id():
        flash("You cannot change your own role.", "error")
        return redirect(url_for("users.index"), 303)
    submit(
        lambda: set_role(db.session, user_id, request.form.get("role", ""), current_user_id()), None, (AccountError,)
    )
    return redirect(url_for("users.index"), 303)


@bp.post("/<int:user_id>/active")
@requires_role("admin")
def change_active(user_id: int) -> Any:
    if user_id == current_user_id():
        flash("You cannot deactivate yourself.", "error")
        return redirect(url_for("users.index"), 303)
    submit(
        lambda: set_active(db.session, user_id, request.form.get("active") == "1", current_user_id()),
        None,
        (AccountError,),
    )
    return redirect(url_for("users.index"), 303)


@bp.get("/me")
@requires_role("viewer")
def account() -> Any:
    return _account_page(None)


def _account_page(token: str | None) -> Any:
    me = db.session.get(User, current_user_id())
    return render_template(
        "users/account.html",
        me=me,
        token=token,
        tokens=user_tokens(db.session, me.id),
        scopes=TOKEN_SCOPES,
        max_days=MAX_TOKEN_DAYS,
    )


@bp.post("/me/token")
@requires_role("viewer")
def new_token() -> Any:
    """A fresh named API token, shown once: only its hash is kept.  A blank name means "default"."""
    days = request.form.get("expires_days", "").strip()
    try:
        if days and not days.isdigit():
            raise AccountError(f"token expiry: 1 to {MAX_TOKEN_DAYS} days")
        token = issue_token(
            db.session,
            int(current_user.id),
            request.form.get("name", "").strip() or "default",
            request.form.get("scope", "write"),
            int(days) if days else None,
        )
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("users.account"), 303)
    return _account_page(token)


@bp.post("/me/tokens/<int:token_id>/revoke")
@requires_role("viewer")
def revoke(token_id: int) -> Any:
    submit(
        lambda: revoke_token(db.session, int(current_user.id), token_id),
        lambda row: f"Revoked API token {row.name}.",
        (AccountError,),
    )
    return redirect(url_for("users.account"), 303)
