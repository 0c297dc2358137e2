"""The session cookie is marked Secure when the request came over HTTPS.

Flask's SESSION_COOKIE_SECURE is one value for the whole app, but the same app is reached over plain
HTTP in development and over HTTPS behind nginx (where ProxyFix turns X-Forwarded-Proto into the
request's scheme), so with WEB_COOKIE_SECURE=auto the flag follows each request's scheme.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface


class SchemeAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with Secure decided per request by WEB_COOKIE_SECURE."""

    def get_cookie_secure(self, app: Flask) -> bool:
        mode = app.config["WEB_COOKIE_SECURE"]
        return mode == "true" or (mode == "auto" and request.is_secure)


def init_app(app: Flask, mode: str) -> None:
    app.config["WEB_COOKIE_SECURE"] = mode
    app.session_interface = SchemeAwareSessionInterface()
