"""The live page: the Bokeh dashboard embedded with a signed session id, and window audio clips.

Only this page can open a Bokeh session: the Bokeh server accepts signed ids only and never
makes its own, and the id is signed here, after the login and role check, together with a grant
(`oceanwatch.access.live_grants`) that binds it to the user and expires.
"""

from __future__ import annotations

import logging
from typing import Any

from bokeh.embed import server_session
from bokeh.util.token import generate_session_id
from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_login import current_user

from app.api.args import parse_site
from app.web.auth import requires_role
from app.web.extensions import db
from app.web.security_headers import BOKEH_CUSTOM_JS, BOKEH_SERVER_SESSION, bokeh_embed
from oceanwatch.access.live_grants import GRANT_HEADER, LIVE_PATH, SITE_HEADER, Grant, issue_grant
from oceanwatch.audio.clips import UnsafeClipPath, clip_file
from oceanwatch.config import Settings
from oceanwatch.db.models import Window
from oceanwatch.sites.store import list_sites

log = logging.getLogger(__name__)
bp = Blueprint("live", __name__, url_prefix="/live")


def _settings() -> Settings:
    return current_app.config["OCEANWATCH_SETTINGS"]


def bokeh_app_url() -> str:
    return current_app.config.get("BOKEH_URL") or _settings().resolved_bokeh_url() + LIVE_PATH


@bp.get("/")
@requires_role("viewer")
def page() -> Any:
    sites = list_sites(db.session)  # an inactive site's history can still be watched, so it is listed too
    active = [s.id for s in sites if s.active]
    default = _settings().hydrophone.id
    site = parse_site(request.args.get("site")) or (default if default in active else None)
    site = site or (active[0] if active else default)
    secret = current_app.config["SECRET_KEY"].encode()
    session_id = generate_session_id(secret_key=secret, signed=True)
    grant = issue_grant(
        session_id, Grant(current_user.id, current_user.session_version), secret, _settings().bokeh.session_expiry_s
    )
    script = bokeh_embed(
        server_session(session_id=session_id, url=bokeh_app_url(), headers={GRANT_HEADER: grant, SITE_HEADER: site}),
        allow=BOKEH_SERVER_SESSION + BOKEH_CUSTOM_JS,  # CustomJS: the status and events (`plots.QuietDiv`)
    )
    return render_template("live/live.html", bokeh_script=script, bokeh_url=bokeh_app_url(), sites=sites, site=site)


@bp.get("/clip/<int:window_id>")
@requires_role("viewer")
def clip(window_id: int) -> Any:
    """A window's FLAC clip; only files under DATA_DIR/clips are served, whatever the row says."""
    window = db.session.get(Window, window_id)
    if window is None or not window.clip_path:
        abort(404)
    try:
        path = clip_file(_settings().data_dir, window.clip_path)
    except UnsafeClipPath as exc:
        log.warning("refused to serve the clip of window %d: %s", window_id, exc)
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="audio/flac", conditional=True, max_age=3600)
