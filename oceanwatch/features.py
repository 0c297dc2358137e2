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
from typing import Any


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
