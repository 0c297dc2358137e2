"""BokehJS from the installed bokeh package, for pages that embed static plots (`bokeh.embed.components`).

Served by the app itself, never from a CDN, so the pages work offline and the JS always matches
the Python bokeh that built the plots.  Behind login like every other route.
"""

from __future__ import annotations

from typing import Any

import bokeh
from bokeh.util.paths import bokehjs_path
from flask import Blueprint, send_from_directory, url_for

from app.web.auth import requires_role

bp = Blueprint("bokeh_assets", __name__, url_prefix="/bokehjs")
SCRIPTS = ("js/bokeh.min.js", "js/bokeh-widgets.min.js")  # widgets: the confusion matrix's model select


@bp.get("/<path:filename>")
@requires_role("viewer")
def asset(filename: str) -> Any:
    return send_from_directory(bokehjs_path(), filename, max_age=86400)


def script_urls() -> list[str]:
    """URLs of the BokehJS files a page with static plots loads (versioned, so caches refresh on upgrade)."""
    return [url_for("bokeh_assets.asset", filename=name, v=bokeh.__version__) for name in SCRIPTS]
