"""Log-mel features match an independent librosa computation, for every rate and channel layout ingest meets."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.signal

from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec, compute, compute_batch, grid_starts, window_hop_seconds


def reference(spec: FeatureSpec, mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """librosa's melspectrogram on tf-style frames: the frame is padded (n_fft - frame)/2 on each side by
    librosa's centred window, so shifting the signal by that much makes librosa see the same samples."""
    g = math.gcd(sample_rate, spec.sample_rate)
    y = scipy.signal.resample_poly(mono.astype(np.float64), spec.sample_rate // g, sample_rate // g)
    y = y[: spec.window_samples]
    y = np.pad(y, (0, spec.window_samples - y.size))
    offset = (spec.n_fft - spec.frame_length) // 2
    padded = np.concatenate([np.zeros(offset), y, np.zeros(spec.n_fft)])
    mel = librosa.feature.melspectrogram(
        y=padded,
        sr=spec.sample_rate,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        win_length=spec.frame_length,
        window=spec.window,
        center=False,
        power=spec.power,
        n_mels=spec.n_mels,
        fmin=spec.fmin,
        fmax=spec.fmax,
    )
    return np.log(mel[:, : spec.n_frames].T + spec.log_offset)


def tone_and_noise(seconds: float, sample_rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    out = np.stack(
        [0.3 * np.sin(2 * np.pi * (150 + 200 * c) * t) + 0.05 * rng.normal(size=t.size) for c in range(channels)],
        axis=1,
    )
    return out.astype(np.float32)


@pytest.mark.parametrize("sample_rate", [8000, 44100, 4000, 16000])
def test_features_match_librosa_reference(sample_rate: int) -> None:
    audio = tone_and_noise(30.0, sample_rate)
    got = compute(DEFAULT_SPEC, audio, sample_rate)
    assert got.shape == DEFAULT_SPEC.input_shape and got.dtype == np.float32
    ref = reference(DEFAULT_SPEC, audio[:, 0], sample_rate)
    assert np.max(np.abs(got[:, :, 0] - ref)) < 1e-3


def test_a_different_spec_matches_its_reference_too() -> None:
    spec = FeatureSpec(
        sample_rate=8000,
        window_seconds=10.0,
        frame_length=512,
        hop_length=256,
        n_fft=512,
        n_mels=40,
        fmin=20.0,
        fmax=3000.0,
        power=2.0,
    )
    audio = tone_and_noise(10.0, 8000)
    got = compute(spec, audio, 8000)
    assert got.shape == spec.input_shape
    assert np.max(np.abs(got[:, :, 0] - reference(spec, audio[:, 0], 8000))) < 1e-3


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_each_channel_gets_its_own_features_and_mono_specs_use_the_pressure_channel(channels: int) -> None:
    audio = tone_and_noise(30.0, 8000, channels)
    multi = FeatureSpec(channels=channels)
    got = compute(multi, audio, 8000)
    assert got.shape == (160, 128, channels)
    for c in range(channels):
        assert np.allclose(got[:, :, c], compute(DEFAULT_SPEC, audio[:, c], 8000)[:, :, 0], atol=1e-5)
    assert np.allclose(compute(DEFAULT_SPEC, audio, 8000), got[:, :, :1], atol=1e-5)


def test_a_spec_needing_more_channels_than_the_audio_has_is_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        compute(FeatureSpec(channels=4), tone_and_noise(30.0, 8000, 2), 8000)


def test_batch_equals_one_by_one() -> None:
    batch = np.stack([tone_and_noise(30.0, 8000, 1, seed=s) for s in range(3)])
    together = compute_batch(DEFAULT_SPEC, batch, 8000)
    for k in range(3):
        assert np.allclose(together[k], compute(DEFAULT_SPEC, batch[k], 8000), atol=1e-5)


def test_short_audio_is_zero_padded_and_long_audio_cut() -> None:
    audio = tone_and_noise(40.0, 4000)  # at the spec's rate: no resampling filter tail at the cut
    assert np.allclose(compute(DEFAULT_SPEC, audio, 4000), compute(DEFAULT_SPEC, audio[: 30 * 4000], 4000))
    short = compute(DEFAULT_SPEC, audio[: 15 * 4000], 4000)
    assert short.shape == DEFAULT_SPEC.input_shape
    assert np.all(short[-20:] <= math.log(DEFAULT_SPEC.log_offset) + 1e-3)  # silence after the end


def test_windows_lie_on_a_global_grid_of_the_hop() -> None:
    hop = window_hop_seconds(30.0)
    assert hop == 22.5
    starts = grid_starts(1000.0, 1100.0, 30.0, hop)
    assert starts == [1012.5, 1035.0, 1057.5]
    assert all((s / hop).is_integer() for s in starts)
    assert grid_starts(1012.5, 1042.5, 30.0, hop) == [1012.5]  # a window exactly filling the span is kept
    assert grid_starts(1012.6, 1042.5, 30.0, hop) == []
