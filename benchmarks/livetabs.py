"""What the benchmarks with live viewers share: a signed-in Chromium context and the JS that reads a tab's
prediction source, so both measure the same thing the same way."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
_SOURCE = "Bokeh.documents[0].get_model_by_name('prediction_source')"
# A tab's prediction count, -1 until its Bokeh document has loaded.
PREDICTIONS_SHOWN = f"() => window.Bokeh && Bokeh.documents.length && {_SOURCE} ? {_SOURCE}.get_length() : -1"


def signed_in_context(playwright: Any, base: str, username: str, password: str) -> tuple[Any, Any]:
    """(browser, context) of headless Chromium whose pages share `username`'s session on the app at `base`."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    login = context.new_page()
    login.goto(f"{base}/login")
    login.fill("#username", username)
    login.fill("#password", password)
    login.click("#login-submit")
    login.wait_for_url(f"{base}/home/")
    login.close()
    return browser, context
