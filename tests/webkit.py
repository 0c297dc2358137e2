"""Helpers for web tests: users in the real database, logged-in test clients, CSRF tokens from pages."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from oceanwatch.access.accounts import create_user, issue_token
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.runtime.embedded import free_port, wait_for_port

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
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def logged_in(app: Flask, settings: Settings, role: str, username: str | None = None) -> FlaskClient:
    """A test client with a session of a new user of `role`."""
    client = app.test_client()
    name = username or f"{role}-user"
    make_user(settings, name, role)
    response = login(client, name)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@contextmanager
def bokeh_server(settings: Settings, data_dir: Path) -> Iterator[int]:
    """The real Bokeh server (`python -m visualization`) on a free port, for the web app at settings.web.port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "BOKEH_PORT": str(port),
        "DATA_DIR": str(data_dir),
        "LOG_FORMAT": "text",
        "WEB_HOST": settings.web.host,
        "WEB_PORT": str(settings.web.port),
        "BOKEH_ALLOWED_ORIGINS": "",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "visualization"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port("127.0.0.1", port, 60)
        yield port
    finally:
        server.terminate()
        assert server.wait(timeout=20) == 0


def websocket_status(url: str, token: str, origin: str) -> int:
    """The HTTP status of a Bokeh websocket handshake (101 = opened) with this token and Origin."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    async def attempt() -> int:
        request = HTTPRequest(url, headers={"Origin": origin, "Sec-WebSocket-Protocol": f"bokeh, {token}"})
        try:
            conn = await websocket_connect(request)
        except HTTPClientError as exc:
            return exc.code
        conn.close()
        return 101

    return asyncio.run(attempt())
