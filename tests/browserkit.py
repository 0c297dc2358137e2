"""Real headless Chromium against the served platform (pytest plugin: the `browser` and `web` fixtures),
with the helpers every browser test uses: logging in and watching for Content-Security-Policy violations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oceanwatch.config import Settings
from oceanwatch.testing.localserve import serve
from tests.webkit import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"


@pytest.fixture
def web(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """The real app (werkzeug, threaded) and the real Bokeh server process, on free ports."""
    with serve(settings, tmp_path) as served:
        yield served


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make venv` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


_REPORT_CSP = (
    "document.addEventListener('securitypolicyviolation', e => "
    "console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`))"
)


def csp_violations(page: Any) -> list[str]:
    """Every Content-Security-Policy violation the page reports from now on (the event and Chromium's own
    console error), so a test can assert that the app's policy blocked nothing the page needs."""
    found: list[str] = []
    page.add_init_script(_REPORT_CSP)
    page.on(
        "console",
        lambda message: found.append(message.text)
        if "CSP violation" in message.text or "Content Security Policy" in message.text
        else None,
    )
    return found


def log_in(page: Any, base: str, username: str, screenshot: str | None = None) -> None:
    page.goto(f"{base}/live/")
    assert "/login" in page.url  # anonymous: sent to the login page first
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / screenshot))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/live/")
