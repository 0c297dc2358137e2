"""Synthetic hydrophone audio: ships are louder near than far, in their bands; it agrees with the scenario; it is fast."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from oceanwatch.geo import distance_m
from oceanwatch.sim.acoustics import (
    BOUNDARY_LOSS_DB_PER_KM,
    Ambient,
    Source,
    kind_class,
    kind_named,
    render,
    render_class,
    render_sources,
    sample_source,
    signature,
    synthesize,
    thorp_db_per_km,
    transmission_loss_db,
)
from oceanwatch.sim.scenario import DEFAULT_SITE, Scenario

SR = 8000
QUIET = Ambient(wind_knots=5.0, shipping=0.2)


def band_db(audio: np.ndarray, lo: float, hi: float, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / sample_rate)
    return 10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def test_propagation_loss_grows_with_range_and_absorption_with_frequency() -> None:
    freqs = np.array([100.0, 1000.0, 3000.0])
    assert np.all(np.diff(thorp_db_per_km(freqs)) > 0)
    near, far = transmission_loss_db(500.0, freqs), transmission_loss_db(20_000.0, freqs)
    assert np.all(far > near)
    # spherical to 1 km (20 dB/decade), cylindrical beyond (10 dB/decade) plus boundary losses per km
    assert transmission_loss_db(1000.0, np.zeros(1))[0] - transmission_loss_db(100.0, np.zeros(1))[0] == pytest.approx(
        20.0, abs=0.1
    )
    assert transmission_loss_db(10_000.0, np.zeros(1))[0] - transmission_loss_db(1000.0, np.zeros(1))[
        0
    ] == pytest.approx(10.0 + 9 * BOUNDARY_LOSS_DB_PER_KM, abs=0.1)
    # a ship beyond the truth buffer (40 km) is clearly fainter than one at the truth radius (20 km)
    assert transmission_loss_db(40_000.0, np.zeros(1))[0] - transmission_loss_db(20_000.0, np.zeros(1))[0] > 6.0


@pytest.mark.parametrize("kind,band", [("cargo", (20, 300)), ("pleasure", (100, 2000)), ("fishing", (30, 1000))])
def test_a_close_ship_is_louder_in_its_band_than_a_far_one(kind: str, band: tuple[float, float]) -> None:
    k = kind_named(kind)
    length, speed = float(np.mean(k.length_m)), float(np.mean(k.speed_knots))
    levels = []
    for range_m in (300.0, 3000.0, 30_000.0):
        audio = render_sources(
            [(kind, length, speed, range_m)], 30.0, SR, np.random.default_rng(3), QUIET, transients=False
        )
        levels.append(band_db(audio, *band))
    ambient = band_db(render_sources([], 30.0, SR, np.random.default_rng(3), QUIET, transients=False), *band)
    assert levels[0] > levels[1] + 6 > levels[2] + 6
    assert levels[0] > ambient + 10


def test_tonals_stand_out_at_their_frequencies() -> None:
    sig = signature("cargo", 250.0, 15.0, np.random.default_rng(5))
    audio = render([(sig, 500.0)], QUIET, 30.0, SR, np.random.default_rng(1), transients=False)
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / SR)
    freq, _ = max((t for t in sig.tonals if 10 < t[0] < 1000), key=lambda t: t[1])
    line = spectrum[np.abs(freqs - freq) < 0.1].max()
    around = np.median(spectrum[np.abs(freqs - freq) < 10])  # the median is the broadband, not the other lines
    assert line > 100 * around


def test_vessel_kinds_map_to_the_platform_classes() -> None:
    assert kind_class(kind_named("cargo")) == "D" and kind_class(kind_named("passenger")) == "C"
    assert kind_class(kind_named("fishing")) == "A" and kind_class(kind_named("sailing")) == "B"
    rng = np.random.default_rng(0)
    for code in "ABCD":
        source = sample_source(code, rng)
        assert isinstance(source, Source) and kind_class(kind_named(source.kind)) == code
        assert 300 <= source.range_m <= 20_000
    with pytest.raises(ValueError):
        sample_source("E", rng)
    with pytest.raises(ValueError, match="unknown vessel kind"):
        render_sources([("submarine", 100.0, 10.0, 1000.0)], 1.0, SR, rng)


def test_same_generator_state_gives_the_same_audio() -> None:
    a = render_class("D", 5.0, SR, np.random.default_rng(11))
    b = render_class("D", 5.0, SR, np.random.default_rng(11))
    c = render_class("D", 5.0, SR, np.random.default_rng(12))
    assert a.dtype == np.float32 and a.shape == (5 * SR,)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.max(np.abs(a)) <= 1.0


def _closest_m(scenario: Scenario, t: float) -> float:
    states = scenario.states_at(t)
    if not states:
        return float("inf")
    lats = np.array([s.latitude for _, s in states])
    lons = np.array([s.longitude for _, s in states])
    return float(distance_m(DEFAULT_SITE, lats, lons).min())


def test_scenario_audio_is_louder_when_a_scenario_ship_passes_close() -> None:
    scenario = Scenario(seed=1)
    times = scenario.start + 60.0 * np.arange(0, 24 * 60)
    closest = np.array([_closest_m(scenario, t) for t in times])
    near_t = float(times[np.argmin(closest)])
    assert closest.min() < 1000.0
    # the quietest moment within two hours of the pass (similar weather), when every ship is far
    window = np.abs(times - near_t) < 7200
    far_t = float(times[window][np.argmax(closest[window])])
    assert _closest_m(scenario, far_t) > 5000.0

    def audio(t: float) -> np.ndarray:
        start = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
        return synthesize(
            scenario, DEFAULT_SITE.latitude, DEFAULT_SITE.longitude, start, 30.0, SR, np.random.default_rng(0)
        )

    near, far = audio(near_t), audio(far_t)
    assert band_db(near, 20, 1000) > band_db(far, 20, 1000) + 10
    again = audio(near_t)
    assert band_db(again, 20, 1000) == pytest.approx(band_db(near, 20, 1000), abs=1e-6)


def test_classes_are_learnable_but_not_trivially() -> None:
    """A linear model on time-pooled log-mels must beat chance clearly yet stay far from perfect:
    ranges, ambient, transients and overlapping kinds keep the task a real one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import cross_val_predict

    from oceanwatch.audio.features import DEFAULT_SPEC, compute_batch

    rng = np.random.default_rng(42)
    codes = "ABCDE"
    labels = np.array([c for _ in range(50) for c in codes])
    audio = np.stack([render_class(c, 30.0, 4000, rng) for c in labels])[:, :, None]
    feats = compute_batch(DEFAULT_SPEC, audio, 4000)[..., 0]
    pooled = np.concatenate([feats.mean(1), feats.std(1)], axis=1)
    predicted = cross_val_predict(LogisticRegression(C=0.1, max_iter=3000), pooled, labels, cv=4)
    score = f1_score(labels, predicted, average="macro")
    assert 0.45 < score < 0.95, score
