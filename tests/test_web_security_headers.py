"""Security headers on every page: a CSP whose script nonce every inline script of ours carries, no
framing, nosniff, a same-origin Referrer-Policy.  That Bokeh still runs under the policy, with no
violation reported, is shown in Chromium (tests/test_web_browser.py, tests/test_web_pages_browser.py)."""

import re

import pytest

from app import create_app
from oceanwatch.config import Settings
from tests.webkit import logged_in

pytestmark = pytest.mark.integration

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>")


def _directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (d.split() for d in policy.split(";"))}


def _assert_hardened(response) -> None:
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    csp = _directives(response)
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"]


def test_every_page_sends_the_headers_and_nonces_its_inline_scripts(settings: Settings) -> None:
    app = create_app(settings=settings)
    anonymous = app.test_client()
    for path in ("/status", "/login", "/healthz", "/no-such-page"):
        _assert_hardened(anonymous.get(path))
    admin = logged_in(app, settings, "admin")
    pages = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/api/", "/bokehjs"))
    ]
    nonces, html_pages, scripts = set(), 0, 0
    for path in pages:
        response = admin.get(path)
        _assert_hardened(response)
        if response.mimetype != "text/html":
            continue
        html_pages += 1
        nonce = next(s for s in _directives(response)["script-src"] if s.startswith("'nonce-"))[7:-1]
        nonces.add(nonce)
        for attributes in _INLINE_SCRIPT.findall(response.get_data(as_text=True)):
            assert f'nonce="{nonce}"' in attributes, f"an inline script on {path} has no nonce: it would not run"
            scripts += 1
    assert scripts >= 3 and len(nonces) == html_pages  # a fresh nonce per response


def test_only_the_page_that_embeds_a_bokeh_session_allows_what_it_needs(settings: Settings) -> None:
    settings = settings.updated(bokeh={"url": "https://ocean.example/bokeh"})
    app = create_app(settings=settings)
    viewer = logged_in(app, settings, "viewer")
    live, models = _directives(viewer.get("/live/")), _directives(viewer.get("/models/"))
    # blob: for the session's autoload.js, 'unsafe-eval' for its CustomJS (the quiet status and events)
    assert {"blob:", "https://ocean.example", "'unsafe-eval'"} <= set(live["script-src"])
    assert "wss://ocean.example" in live["connect-src"]
    assert "'unsafe-eval'" not in models["script-src"] and "blob:" not in models["script-src"]
