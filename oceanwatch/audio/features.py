"""Feature specifications: what a model expects its input spectrogram to be.

A spec is data (it travels in model manifests and is stored with every model); its `hash`
keys the features in window messages and in the `spectrograms` table, so features are
computed once per window per distinct spec, however many models share it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FeatureSpec:
    """Log-mel spectrogram parameters (defaults from the original deployment).

    Frames follow `tf.signal.stft(..., pad_end=True)`: the end is zero-padded so a window of
    N samples gives ceil(N / hop_length) frames (30 s at 4 kHz -> 160 frames).
    """

    sample_rate: int = 4000
    window_seconds: float = 30.0
    frame_length: int = 1000
    hop_length: int = 750
    n_fft: int = 1024
    window: str = "hann"
    n_mels: int = 128
    fmin: float = 10.0
    fmax: float = 2000.0
    power: float = 1.0
    log_offset: float = 1e-6
    channels: int = 1

    def __post_init__(self) -> None:
        if self.frame_length > self.n_fft:
            raise ValueError(f"frame_length {self.frame_length} exceeds n_fft {self.n_fft}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= Nyquist ({self.sample_rate / 2} Hz)")
        if self.channels < 1 or self.n_mels < 1 or self.hop_length < 1:
            raise ValueError("channels, n_mels and hop_length must be positive")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        return math.ceil(self.window_samples / self.hop_length)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(frames, mels, channels): the model input shape this spec produces."""
        return (self.n_frames, self.n_mels, self.channels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureSpec":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature-spec fields: {sorted(unknown)}")
        return cls(**data)

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON (stable across processes and versions)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


DEFAULT_SPEC = FeatureSpec()


WINDOW_HOP_FRACTION = 0.75
"""Windows advance by 75 % of their length (25 % overlap): 30 s windows start every 22.5 s."""


def window_hop_seconds(window_seconds: float) -> float:
    return window_seconds * WINDOW_HOP_FRACTION


def window_grid_step(window_seconds: float) -> float:
    """The coarsest step on which every window's start and end lie (7.5 s for 30-s windows at a 3/4 hop).

    Audio arriving in chunks of this step completes each window the moment its end passes, where
    chunks of one hop would hold a window back until the chunk holding its end was done (15 s).
    """
    return window_seconds / Fraction(WINDOW_HOP_FRACTION).limit_denominator(1000).denominator


def grid_starts(t0: float, t1: float, window_seconds: float, hop_seconds: float) -> list[float]:
    """Starts of the windows lying wholly inside [t0, t1] (epoch seconds), on the global grid.

    Window k starts at k * hop since the epoch, so every source (files cut anywhere, the
    simulator started at any moment) produces the same windows, and ingesting the same audio
    again lands on the same unique (hydrophone, start) keys.
    """
    eps = 1e-6  # float noise of epoch seconds must not drop a window that starts exactly at t0
    first = math.ceil((t0 - eps) / hop_seconds)
    last = math.floor((t1 - window_seconds + eps) / hop_seconds)
    return [k * hop_seconds for k in range(first, last + 1)]


@lru_cache(maxsize=16)
def mel_basis(spec: FeatureSpec) -> np.ndarray:
    """(1 + n_fft/2, n_mels) float32 filterbank, built once per spec (librosa's Slaney mels)."""
    import librosa

    basis = librosa.filters.mel(
        sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax
    )
    return np.ascontiguousarray(basis.T, dtype=np.float32)


@lru_cache(maxsize=16)
def frame_window(spec: FeatureSpec) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window(spec.window, spec.frame_length, fftbins=True).astype(np.float32)


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling along axis -2 of (..., samples, channels) audio; exact rational ratio."""
    if sample_rate == target_rate:
        return audio
    import scipy.signal

    g = math.gcd(int(sample_rate), int(target_rate))
    return scipy.signal.resample_poly(audio, target_rate // g, sample_rate // g, axis=-2).astype(np.float32)


def compute_batch(spec: FeatureSpec, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel features of a batch of windows: (batch, samples, channels) -> (batch, *spec.input_shape).

    Audio is resampled to the spec's rate, cut or zero-padded to exactly `spec.window_samples`,
    and only its first `spec.channels` channels are used (channel 0 is the pressure channel
    of a vector sensor).  Frames follow `tf.signal.stft(pad_end=True)`: frame k starts at
    k * hop_length and the end is zero-padded, then |rfft|**power, mel filterbank, log.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 3:
        raise ValueError(f"expected (batch, samples, channels) audio, got shape {audio.shape}")
    if audio.shape[2] < spec.channels:
        raise ValueError(f"spec needs {spec.channels} channels, audio has {audio.shape[2]}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    x = resample(audio[:, :, : spec.channels], sample_rate, spec.sample_rate)
    n = spec.window_samples
    padded_len = (spec.n_frames - 1) * spec.hop_length + spec.frame_length
    buf = np.zeros((x.shape[0], padded_len, spec.channels), dtype=np.float32)
    take = min(n, x.shape[1])
    buf[:, :take] = x[:, :take]
    buf = np.moveaxis(buf, 2, 1)  # (batch, channels, samples): frames along the last axis
    frames = np.lib.stride_tricks.sliding_window_view(buf, spec.frame_length, axis=-1)[..., :: spec.hop_length, :]
    frames = frames[..., : spec.n_frames, :] * frame_window(spec)
    magnitude = np.abs(np.fft.rfft(frames, n=spec.n_fft, axis=-1)).astype(np.float32)
    if spec.power != 1.0:
        magnitude **= spec.power
    basis = mel_basis(spec)
    # one 2-D GEMM: a stacked (batch, channels, frames) matmul runs as many tiny ones, ~6x slower
    mel = (magnitude.reshape(-1, magnitude.shape[-1]) @ basis).reshape(*magnitude.shape[:-1], basis.shape[1])
    np.log(mel + np.float32(spec.log_offset), out=mel)
    return mel.transpose(0, 2, 3, 1)  # (batch, frames, mels, channels)


def compute(spec: FeatureSpec, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel features of one window: (samples,) or (samples, channels) -> float32 `spec.input_shape`."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise ValueError(f"expected (samples,) or (samples, channels) audio, got shape {audio.shape}")
    return compute_batch(spec, audio[None], sample_rate)[0]


def check_computes(spec: FeatureSpec) -> None:
    """Compute the spec's features once on a sample window; ValueError with the reason if that fails.

    Field checks cannot foresee every value librosa and scipy refuse (a window name scipy does
    not know, a type that only breaks inside the FFT), so registration runs the computation
    ingest will run, and a spec that cannot work is refused before it reaches ingest.
    """
    noise = np.random.default_rng(0).normal(0.0, 0.1, (spec.window_samples, spec.channels)).astype(np.float32)
    try:
        features = compute(spec, noise, spec.sample_rate)
    except Exception as exc:  # numpy, scipy and librosa raise many types; each means "cannot compute"
        raise ValueError(f"features cannot be computed on a sample window ({type(exc).__name__}: {exc})") from None
    if features.shape != spec.input_shape or not np.all(np.isfinite(features)):
        raise ValueError(f"features of a sample window are not finite values of shape {spec.input_shape}")
