"""Helpers for web tests: users in the real database, logged-in test clients, CSRF tokens from pages."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from oceanwatch.accounts import create_user, issue_token
from oceanwatch.config import Settings
from oceanwatch.db import session_scope

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def make_user(settings: Settings, username: str, role: str, password: str = PASSWORD) -> int:
    with session_scope(settings.database_url) as session:
        return create_user(session, username, password, role).id


def make_token(settings: Settings, user_id: int) -> str:
    with session_scope(settings.database_url) as session:
        return issue_token(session, user_id)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD, ip: str = "127.0.0.1"):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def logged_in(app: Flask, settings: Settings, role: str, username: str | None = None) -> FlaskClient:
    """A test client with a session of a new user of `role`."""
    client = app.test_client()
    name = username or f"{role}-user"
    make_user(settings, name, role)
    response = login(client, name)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
