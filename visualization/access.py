"""Who may open a live-dashboard session: the Bokeh server's auth hook, checking the web app's grant.

Bokeh calls `get_user_async` before every request of a session (the document, autoload.js) and
before every websocket handshake, so a grant is checked each time, not only when the session is
created: a session id copied from a page is refused once its grant expires, its user logs out or
is deactivated, even while the session still exists.  A refusal is a 403.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bokeh.server.auth_provider import AuthProvider
from bokeh.util.token import check_token_signature, get_session_id, get_token_payload
from sqlalchemy.orm import Session
from tornado.web import HTTPError, RequestHandler

from oceanwatch.access.accounts import session_holder
from oceanwatch.access.live_grants import GRANT_HEADER, Grant, read_grant


def _grant_and_session(handler: RequestHandler) -> tuple[str | None, str | None]:
    """The grant a request carries and the session id it asks for.

    A websocket (or a `bokeh-token` argument) carries Bokeh's own token, whose payload holds the
    headers of the page's autoload request, grant included; a plain request carries both as headers."""
    protocols = [p.strip() for p in handler.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    token = protocols[1] if len(protocols) == 2 and protocols[0] == "bokeh" else None
    token = handler.get_argument("bokeh-token", None) or token
    if token is None:
        return (
            handler.request.headers.get(GRANT_HEADER),
            handler.request.headers.get("Bokeh-Session-Id") or handler.get_argument("bokeh-session-id", None),
        )
    try:
        if not check_token_signature(token, secret_key=handler.application.secret_key, signed=True):
            return None, None
        headers = get_token_payload(token).get("headers", {})
        return headers.get(GRANT_HEADER), get_session_id(token)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, None


class GrantAuth(AuthProvider):
    """Refuses every session request without a current grant from the web app."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._factory = session_factory
        super().__init__()

    def _still_valid(self, grant: Grant) -> bool:
        with self._factory() as session:
            return session_holder(session, grant.user_id, grant.session_version) is not None

    async def _user(self, handler: RequestHandler) -> str | None:
        if handler.request.method == "OPTIONS":
            return None  # the browser's CORS preflight of autoload.js carries no headers to check
        token, session_id = _grant_and_session(handler)
        grant = read_grant(token, session_id, handler.application.secret_key) if token and session_id else None
        if grant is None or not await asyncio.to_thread(self._still_valid, grant):
            raise HTTPError(403, reason="No current grant from the web app for this session")
        return str(grant.user_id)

    @property
    def get_user_async(self) -> Callable[[RequestHandler], Awaitable[str | None]]:
        return self._user

    @property
    def get_login_url(self) -> Callable[[RequestHandler], str]:
        """Bokeh insists on one; there is no Bokeh login (sessions come from the web app's live page)."""

        def refuse(handler: RequestHandler) -> str:
            raise HTTPError(403)

        return refuse
