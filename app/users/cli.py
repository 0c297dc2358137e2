"""The users CLI: create accounts from the command line, which is how the first admin comes to exist
(nobody could log in to create it through the web).

`flask --app app users create-admin NAME` or `python -m app.users create NAME --role admin`
(password from --password, $OW_PASSWORD or a prompt).
"""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from app.web.extensions import db
from oceanwatch.access.accounts import ROLES, AccountError, create_user

cli = AppGroup("users", help="Create users and admins.")


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
