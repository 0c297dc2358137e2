"""Users and roles: the admin's user page, each user's account page (named API tokens), and the CLI.

The first admin cannot be created through the web (nobody could log in to do it), so it
comes from the command line: `flask --app app users create-admin NAME` or
`python -m app.users create NAME --role admin` (password from --password, $OW_PASSWORD or a prompt).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.cli import AppGroup
from flask_login import current_user
from sqlalchemy import select

from app.auth import current_user_id, requires_role
from app.extensions import db
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
cli = AppGroup("users", help="Create users and admins.")


@bp.get("/")
@requires_role("admin")
def index() -> Any:
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users.html", users=users, roles=ROLES)


@bp.post("/")
@requires_role("admin")
def create() -> Any:
    try:
        create_user(db.session, request.form.get("username", ""), request.form.get("password", ""),
                    request.form.get("role", "viewer"), actor_id=current_user_id())
        db.session.commit()
        flash(f"Created user {request.form.get('username')}.")
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.index"), 303)


@bp.post("/<int:user_id>/role")
@requires_role("admin")
def change_role(user_id: int) -> Any:
    if user_id == current_user_id():
        flash("You cannot change your own role.", "error")
        return redirect(url_for("users.index"), 303)
    try:
        set_role(db.session, user_id, request.form.get("role", ""), current_user_id())
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.index"), 303)


@bp.post("/<int:user_id>/active")
@requires_role("admin")
def change_active(user_id: int) -> Any:
    if user_id == current_user_id():
        flash("You cannot deactivate yourself.", "error")
        return redirect(url_for("users.index"), 303)
    try:
        set_active(db.session, user_id, request.form.get("active") == "1", current_user_id())
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.index"), 303)


@bp.get("/me")
@requires_role("viewer")
def account() -> Any:
    return _account_page(None)


def _account_page(token: str | None) -> Any:
    me = db.session.get(User, current_user_id())
    return render_template("account.html", me=me, token=token, tokens=user_tokens(db.session, me.id),
                           scopes=TOKEN_SCOPES, max_days=MAX_TOKEN_DAYS)


@bp.post("/me/token")
@requires_role("viewer")
def new_token() -> Any:
    """A fresh named API token, shown once: only its hash is kept.  A blank name means "default"."""
    days = request.form.get("expires_days", "").strip()
    try:
        if days and not days.isdigit():
            raise AccountError(f"token expiry: 1 to {MAX_TOKEN_DAYS} days")
        token = issue_token(db.session, int(current_user.id), request.form.get("name", "").strip() or "default",
                            request.form.get("scope", "write"), int(days) if days else None)
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("users.account"), 303)
    return _account_page(token)


@bp.post("/me/tokens/<int:token_id>/revoke")
@requires_role("viewer")
def revoke(token_id: int) -> Any:
    try:
        row = revoke_token(db.session, int(current_user.id), token_id)
        db.session.commit()
        flash(f"Revoked API token {row.name}.")
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.account"), 303)


def _password(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("OW_PASSWORD"):
        return os.environ["OW_PASSWORD"]
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@cli.command("create-admin")
@click.argument("username")
@click.option("--password", default=None, help="Default: $OW_PASSWORD, else a prompt.")
def create_admin_command(username: str, password: str | None) -> None:
    """Create an admin account (how the first admin comes to exist)."""
    _create(username, _password(password), "admin")


@cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer")
@click.option("--password", default=None, help="Default: $OW_PASSWORD, else a prompt.")
def create_command(username: str, role: str, password: str | None) -> None:
    """Create an account with a role."""
    _create(username, _password(password), role)


def _create(username: str, password: str, role: str) -> None:
    try:
        user = create_user(db.session, username, password, role)
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {user.username} (id {user.id})")


def main(argv: list[str] | None = None) -> int:
    """`python -m app.users create NAME [--role R] [--password P]` with the environment's settings."""
    from app import create_app

    app = create_app()
    group = click.Group(commands={"create": create_command, "create-admin": create_admin_command})
    with app.app_context():
        try:
            group.main(args=argv, prog_name="python -m app.users", standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
