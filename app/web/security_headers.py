"""Security headers on every response: a Content-Security-Policy that still lets Bokeh run, no framing,
no MIME sniffing, and no full URLs in the Referer sent to other sites.

Scripts run only from this origin, the Bokeh server's origin, or inline with the request's nonce
(`csp_nonce()` in templates).  Bokeh's embed functions have no nonce parameter, so `bokeh_embed()`
adds it to their `<script>` tags, and only the page that embeds them also allows what that embed
needs: `blob:` scripts for `server_session` (it fetches the server's autoload.js and runs it as a
blob: URL), `'unsafe-eval'` for documents with CustomJS callbacks (BokehJS compiles them with
`new Function`; the metrics page's confusion-matrix select, the live page's status and events).
Styles may be inline: BokehJS sets style attributes and inserts style elements as it renders.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g

NONCE_BYTES = 16
_SCRIPT_TAG = re.compile(r"<script\b")
BOKEH_SERVER_SESSION = ("blob:",)
BOKEH_CUSTOM_JS = ("'unsafe-eval'",)


def csp_nonce() -> str:
    """This request's script nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(NONCE_BYTES)
    return g.csp_nonce


def bokeh_embed(html: str, allow: tuple[str, ...] = ()) -> str:
    """Bokeh's embed output (`server_session`, `components`) with this request's nonce on its scripts;
    `allow`: the script sources it needs besides (BOKEH_SERVER_SESSION, BOKEH_CUSTOM_JS)."""
    g.csp_scripts = (*g.get("csp_scripts", ()), *allow)
    return _SCRIPT_TAG.sub(f'<script nonce="{csp_nonce()}"', html)


def _bokeh_origins() -> tuple[str, str]:
    """(http origin, websocket origin) of the Bokeh server as browsers reach it."""
    url = current_app.config.get("BOKEH_URL") or current_app.config["OCEANWATCH_SETTINGS"].resolved_bokeh_url()
    parts = urlsplit(url)
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc}", f"{ws}://{parts.netloc}"


def content_security_policy(nonce: str, bokeh_origin: str, bokeh_ws: str, extra_scripts: tuple[str, ...] = ()) -> str:
    """The policy of one response; `extra_scripts`: what this page's Bokeh embed needs (see the module docstring)."""
    scripts = ["'self'", f"'nonce-{nonce}'", bokeh_origin, *dict.fromkeys(extra_scripts)]
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "connect-src": ["'self'", bokeh_origin, bokeh_ws],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _add_headers(response: Response) -> Response:
    origin, ws = _bokeh_origins()
    response.headers["Content-Security-Policy"] = content_security_policy(
        csp_nonce(), origin, ws, g.get("csp_scripts", ())
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_headers)
