"""Spectrogram levels and the frequency axis: features read as dB per Hz at band centres in Hz."""

import numpy as np
import pytest

from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec, compute
from oceanwatch.audio.levels import FULL_SCALE, MICROPASCAL, band_centres_hz, density_db, density_unit
from visualization.frequency import frequency_ticks, resample_rows, to_scale


def _noise(spec: FeatureSpec, density: float, seed: int = 3) -> np.ndarray:
    """White noise of one-sided spectral density `density` FS²/Hz (variance density · fs / 2)."""
    sigma = np.sqrt(density * spec.sample_rate / 2.0)
    return np.random.default_rng(seed).normal(0.0, sigma, spec.window_samples).astype(np.float32)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_white_noise_reads_as_its_spectral_density_in_every_band_wide_enough_to_average(power: float) -> None:
    spec = FeatureSpec(power=power)
    density = 1e-7  # -70 dB re 1 FS²/Hz
    level = density_db(spec, compute(spec, _noise(spec, density), spec.sample_rate)[:, :, 0])
    centres = band_centres_hz(spec)
    wide = (centres > 300) & (centres < 1900)  # bands of several FFT bins: the per-frame scatter averages out
    per_band = np.median(level[:, wide], axis=0)
    assert np.all(np.abs(per_band - 10 * np.log10(density)) < 1.5), per_band
    louder = density_db(spec, compute(spec, _noise(spec, density * 100), spec.sample_rate)[:, :, 0])
    assert np.median(louder[:, wide] - level[:, wide]) == pytest.approx(20.0, abs=0.5)  # 100 × the power: +20 dB


def test_a_known_sensitivity_turns_full_scale_levels_into_micropascal_levels() -> None:
    features = compute(DEFAULT_SPEC, _noise(DEFAULT_SPEC, 1e-6), DEFAULT_SPEC.sample_rate)[:, :, 0]
    full_scale = density_db(DEFAULT_SPEC, features)
    calibrated = density_db(DEFAULT_SPEC, features, sensitivity_db=-165.0)
    assert np.allclose(calibrated - full_scale, 165.0, atol=1e-3)  # 1 FS (1 V) is 165 dB re 1 µPa
    assert density_unit(None) == FULL_SCALE and density_unit(-165.0) == MICROPASCAL


def test_a_tone_peaks_in_the_band_centred_on_its_frequency() -> None:
    spec = DEFAULT_SPEC
    t = np.arange(spec.window_samples) / spec.sample_rate
    for hz in (80.0, 500.0, 1500.0):
        features = compute(spec, 0.5 * np.sin(2 * np.pi * hz * t).astype(np.float32), spec.sample_rate)
        peak = int(np.argmax(features[:, :, 0].mean(axis=0)))
        centres = band_centres_hz(spec)
        assert abs(centres[peak] - hz) <= np.max(np.diff(centres)[max(peak - 1, 0) : peak + 1]), (hz, centres[peak])


@pytest.mark.parametrize("scale", ["mel", "linear", "log"])
def test_resampled_rows_put_each_frequency_where_the_axis_says_it_is(scale: str) -> None:
    centres = band_centres_hz(DEFAULT_SPEC)
    image = np.tile(centres[:, None], (1, 4)).astype(np.float32)  # each band holds its own centre in Hz
    rows, bottom, height = resample_rows(image, centres, scale, 128)
    assert rows.shape == (128, 4)
    step = height / 128
    coordinates = bottom + step / 2 + step * np.arange(128)  # the centre of each drawn row
    expected = np.interp(coordinates, to_scale(centres, scale), centres)
    assert np.allclose(rows[:, 0], expected, rtol=1e-4)
    assert coordinates[0] == pytest.approx(to_scale(centres[0], scale)) and coordinates[-1] == pytest.approx(
        to_scale(centres[-1], scale)
    )


def test_frequency_ticks_are_round_hz_values_placed_on_the_scale() -> None:
    linear = frequency_ticks(10.0, 2000.0, "linear")
    assert list(linear.values()) == ["500 Hz", "1 kHz", "1.5 kHz", "2 kHz"]  # equal steps, at most 8
    assert all(np.isclose(p, float(label.split()[0]) * (1000 if "kHz" in label else 1)) for p, label in linear.items())
    log = frequency_ticks(10.0, 2000.0, "log")
    assert set(log.values()) <= {"10 Hz", "20 Hz", "50 Hz", "100 Hz", "200 Hz", "500 Hz", "1 kHz", "2 kHz"}
    assert np.isclose(min(log), 1.0) and len(log) <= 8
    mel = frequency_ticks(10.0, 2000.0, "mel")
    assert list(mel) == sorted(mel) and np.isclose(max(mel), to_scale(2000.0, "mel"))
    for ticks, scale in ((log, "log"), (mel, "mel")):  # never crowded, however the scale bunches low frequencies
        span = float(np.ptp(to_scale([10.0, 2000.0], scale)))
        assert np.min(np.diff(sorted(ticks))) >= span / 8 * 0.999
    with pytest.raises(ValueError, match="frequency scale"):
        to_scale(100.0, "bark")
