"""The spectrogram's frequency axis: mel bands laid out on a mel, linear or log scale, ticks in Hz.

Pure functions (numpy in, numpy out).  Every window's image is resampled onto rows evenly spaced in
the chosen scale's coordinate, so Bokeh can draw it as a plain image on a linear axis whose ticks
are labelled in Hz, and windows of different feature specs line up in frequency.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCALES = ("mel", "linear", "log")
NICE_HZ = (1, 2, 5)


def to_scale(hz: np.ndarray | Sequence[float] | float, scale: str) -> np.ndarray:
    """Frequencies in Hz -> the scale's axis coordinate (mel: Slaney mels, as the filterbank uses)."""
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "linear":
        return hz
    if scale == "log":
        return np.log10(hz)
    if scale == "mel":
        import librosa

        return np.asarray(librosa.hz_to_mel(hz), dtype=np.float64)
    raise ValueError(f"frequency scale: one of {', '.join(SCALES)}")


def resample_rows(image: np.ndarray, centres_hz: np.ndarray, scale: str, rows: int) -> tuple[np.ndarray, float, float]:
    """A (bands, frames) image -> (rows, frames) evenly spaced in `scale` between the first and last band
    centre, by linear interpolation between neighbouring bands; returns (image, bottom, height) in
    axis coordinates (the image's y and dh)."""
    position = to_scale(centres_hz, scale)
    bottom, top = float(position[0]), float(position[-1])
    targets = np.linspace(bottom, top, rows)
    index = np.interp(targets, position, np.arange(len(position), dtype=np.float64))
    low = np.floor(index).astype(int)
    high = np.minimum(low + 1, len(position) - 1)
    weight = (index - low)[:, None].astype(np.float32)
    resampled = image[low] * (1 - weight) + image[high] * weight
    step = (top - bottom) / max(rows - 1, 1)
    return resampled.astype(np.float32), bottom - step / 2, top - bottom + step


def hz_label(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def frequency_ticks(low_hz: float, high_hz: float, scale: str, most: int = 8) -> dict[float, str]:
    """Axis coordinate -> Hz label of round frequencies within [low_hz, high_hz], at most `most` of them
    and never crowded: equal steps of 1, 2 or 5 × 10ⁿ Hz on linear and mel scales, the 1-2-5 sequence on
    log and mel ones; from the top down, a tick is kept when it lies 1/`most` of the axis from the last."""
    step = min(m * 10.0**e for e in range(-1, 7) for m in NICE_HZ if (high_hz - low_hz) / (m * 10.0**e) <= most)
    candidates: set[float] = set()
    if scale != "log":  # equal steps suit the linear scale and the mel scale's (linear-ish) upper end
        candidates = {k * step for k in range(int(np.ceil(low_hz / step)), int(np.floor(high_hz / step)) + 1)}
    if scale != "linear":
        decades = range(int(np.floor(np.log10(max(low_hz, 1e-3)))), int(np.ceil(np.log10(high_hz))) + 1)
        candidates |= {m * 10.0**e for e in decades for m in NICE_HZ if low_hz <= m * 10.0**e <= high_hz}
    spacing = float(np.ptp(to_scale([low_hz, high_hz], scale))) / most
    kept: list[tuple[float, float]] = []
    for hz in sorted(candidates, reverse=True):
        position = float(to_scale(hz, scale))
        if not kept or kept[-1][0] - position >= spacing * 0.999:
            kept.append((position, hz))
    return {position: hz_label(hz) for position, hz in reversed(kept)}
