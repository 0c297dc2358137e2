"""What a spectrogram's numbers mean to an acoustician: band centres in Hz and levels in dB per Hz.

Features are ln(mel filterbank · |STFT|**power + offset) in the audio's full-scale units, which
depend on the window, FFT size and filter widths.  Dividing each band by what white noise of a
known spectral density produces in it (computed from the spec, not measured) turns a feature into
a spectral density level: dB re 1 FS²/Hz, or dB re 1 µPa²/Hz once the hydrophone's sensitivity
says how many µPa one full-scale unit is.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from oceanwatch.audio.features import FeatureSpec, frame_window, mel_basis

FULL_SCALE = "dB re 1 FS²/Hz"
MICROPASCAL = "dB re 1 µPa²/Hz"


@lru_cache(maxsize=16)
def band_centres_hz(spec: FeatureSpec) -> np.ndarray:
    """Centre frequency of each mel band (the peak of its triangle: librosa's Slaney mel points)."""
    import librosa

    points = librosa.mel_frequencies(n_mels=spec.n_mels + 2, fmin=spec.fmin, fmax=spec.fmax)
    return np.asarray(points[1:-1], dtype=np.float64)


@lru_cache(maxsize=16)
def _unit_noise_log(spec: FeatureSpec) -> np.ndarray:
    """ln of each band's expected value for white noise of one-sided density 1 FS²/Hz.

    Such noise has variance fs/2 per sample; a windowed FFT bin then has E|X|² = fs/2 · Σw² and,
    being complex Gaussian, E|X|**p = (E|X|²)**(p/2) · Γ(1 + p/2); a band sums its bins' weights.
    """
    window = frame_window(spec).astype(np.float64)
    bin_power = spec.sample_rate / 2.0 * float(np.sum(window**2))
    expected_bin = math.gamma(1.0 + spec.power / 2.0) * bin_power ** (spec.power / 2.0)
    weights = mel_basis(spec).astype(np.float64).sum(axis=0)
    return np.log(expected_bin * weights)


def density_db(spec: FeatureSpec, features: np.ndarray, sensitivity_db: float | None = None) -> np.ndarray:
    """Spectral density level of (..., n_mels) features: dB re 1 FS²/Hz, or dB re 1 µPa²/Hz when the
    sensitivity (dB re 1 V/µPa, with one full-scale unit taken as 1 V) is given.

    Bands whose value is at the feature's log offset (silence) stay at that floor's level.
    """
    ratio = np.asarray(features, dtype=np.float64) - _unit_noise_log(spec)
    level = (20.0 / spec.power) / math.log(10.0) * ratio
    if sensitivity_db is not None:
        level = level - sensitivity_db
    return level.astype(np.float32)


def density_unit(sensitivity_db: float | None) -> str:
    return FULL_SCALE if sensitivity_db is None else MICROPASCAL
