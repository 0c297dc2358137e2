"""In real headless Chromium: an operator works the review queue, labels a window, and classifies
an uploaded WAV.  Screenshots land in tests/artifacts/screenshots like the other browser tests."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from oceanwatch.audio.features import grid_starts, window_hop_seconds
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import HumanLabel, TruthLabel, Vessel
from oceanwatch.testing.synthetic import store_windows
from tests.browserkit import SCREENSHOTS, log_in
from tests.modelkit import CLASSES, TINY_SPEC, runnable_model
from tests.predictionkit import add_predictions
from tests.webkit import make_user

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_operator_labels_a_window_from_the_queue_and_classifies_a_wav(web, browser, tmp_path: Path) -> None:
    settings: Settings
    settings, base = web
    make_user(settings, "op1", "operator")
    model_id = runnable_model(settings, tmp_path, "reviewed", passes=4)
    windows = [m.window_id for m in store_windows(settings, 6, spec=TINY_SPEC)]
    with session_scope(settings.database_url) as session:
        add_predictions(session, windows, model_id, np.random.default_rng(2))
        session.add(Vessel(mmsi=366000333, name="PACIFIC TUG", ship_type=52, ship_type_text="Tug"))
        for w in windows:
            session.add(
                TruthLabel(
                    window_id=w, radius_km=20, classes=["A"], ambiguous=False, vessels=[366000333], buffer_vessels=[]
                )
            )

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, "op1")
    page.click("text=Review")
    page.wait_for_selector("#review-queue .review-row")
    assert page.locator("#review-queue .review-row").count() == len(windows)
    page.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)

    first = int(page.locator("#review-queue .review-row").first.get_attribute("data-window"))
    page.click(f"#open-{first}")
    page.wait_for_selector("#window-spectrogram")
    assert "PACIFIC TUG" in page.inner_text("#truth")
    assert page.locator("#model-outputs tr[id^=prediction-]").count() == 1
    page.check("#label-B")
    page.fill("#label-note", "small boat, not the tug")
    page.click("#label-submit")
    page.wait_for_selector(f"text=Window {first} labelled B.")
    assert "B" in page.inner_text("#current-label") and "op1" in page.inner_text("#current-label")
    page.screenshot(path=str(SCREENSHOTS / "review-window-labelled.png"), full_page=True)
    with session_scope(settings.database_url) as session:
        label = session.get(HumanLabel, first)
        assert label.classes == ["B"] and label.note == "small boat, not the tug"

    page.click("text=Review queue")
    page.wait_for_selector("#review-queue .review-row")
    remaining = {int(r.get_attribute("data-window")) for r in page.locator("#review-queue .review-row").all()}
    assert first not in remaining and len(remaining) == len(windows) - 1

    wav = tmp_path / "humpback-or-ship.wav"
    rate = 8000
    t = np.arange(int(5.0 * rate)) / rate
    soundfile.write(wav, (0.3 * np.sin(2 * np.pi * 120 * t)).astype(np.float32), rate)
    page.click("text=Classify a clip")
    page.set_input_files("#clip-file", str(wav))
    page.click("#clip-submit")
    page.wait_for_selector("#clip-spectrogram")
    result = page.locator(f"#result-model-{model_id}")
    assert result.count() == 1 and result.locator(".predicted").inner_text().strip() in CLASSES
    expected = grid_starts(0.0, 5.0, TINY_SPEC.window_seconds, window_hop_seconds(TINY_SPEC.window_seconds))
    assert result.locator("table.probabilities tr").count() == 1 + len(expected)  # header + one row per window
    page.screenshot(path=str(SCREENSHOTS / "classify-clip.png"), full_page=True)
    assert errors == []
