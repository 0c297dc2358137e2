"""Grants to open a live-dashboard (Bokeh) session: the web app issues one per page, after its login
check; the Bokeh server checks it on every request and websocket of the session.

A signed session id alone would open its session for as long as the server runs, for anyone who
copied it, logged out or not.  A grant is a Bokeh session token (`generate_jwt_token`, signed with
SECRET_KEY, with an expiry) for that session id, naming the user and the user's session version,
so it expires in minutes and dies with a logout or deactivation.  The page sends it as a request
header next to the session id; Bokeh copies the request's headers into the token it hands the
browser for the websocket, so the websocket carries the grant too.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

from bokeh.core.types import ID
from bokeh.util.token import check_token_signature, generate_jwt_token, get_session_id, get_token_payload

GRANT_HEADER = "Ow-Grant"
SITE_HEADER = "Ow-Site"  # the site the page asked the dashboard to follow (any viewer may watch any site)
LIVE_PATH = "/live"  # where the Bokeh server serves the live dashboard, and the web app embeds it from


@dataclass(frozen=True)
class Grant:
    """Whose grant it is: the user and the session version it was issued under."""

    user_id: int
    session_version: int


def issue_grant(session_id: str, grant: Grant, secret_key: bytes, expiry_s: int) -> str:
    return generate_jwt_token(
        ID(session_id),
        secret_key=secret_key,
        signed=True,
        expiration=expiry_s,
        extra_payload={"user_id": grant.user_id, "session_version": grant.session_version},
    )


def read_grant(token: str, session_id: str, secret_key: bytes) -> Grant | None:
    """The grant in `token` if it is signed with `secret_key`, for `session_id` and not expired; else None.

    Whether its user may still use it is the database's answer (`accounts.session_holder`)."""
    try:
        if not check_token_signature(token, secret_key=secret_key, signed=True) or get_session_id(token) != session_id:
            return None
        payload = get_token_payload(token)
        if time.time() >= payload["session_expiry"]:
            return None
        return Grant(int(payload["user_id"]), int(payload["session_version"]))
    except (ValueError, KeyError, TypeError, zlib.error):  # not a token of ours at all
        return None
