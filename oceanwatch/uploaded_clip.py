"""An audio clip a person uploads for classification: read, checked, and cut into model windows.

Pure functions (bytes in, arrays out) so the web app, scripts and tests share one set of rules.
Everything that makes a clip unusable raises `ClipError` with a reason a person can act on;
the web layer turns it into a 400.  Windows follow the platform's grid (75 % hop), so an
uploaded clip is cut the way ingest cuts live audio.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

from oceanwatch.features import window_hop_seconds

ACCEPTED_FORMATS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac"}


class ClipError(ValueError):
    """An upload that is not a usable WAV/FLAC clip; the message says why."""


@dataclass(frozen=True)
class Clip:
    """Decoded audio, (samples, channels) float32, with what was read from the header."""

    audio: np.ndarray
    sample_rate: int
    format: str
    sha256: str

    @property
    def channels(self) -> int:
        return int(self.audio.shape[1])

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate


@dataclass(frozen=True)
class ClipWindows:
    """A clip cut for one window length: (windows, samples, channels) audio, each window's start (s) and
    the share of each window that is zero padding rather than audio (0 for a full window)."""

    audio: np.ndarray
    starts_s: list[float]
    notes: list[str]
    padded_share: list[float]


def read_clip(data: bytes, max_seconds: float) -> Clip:
    """Decode a WAV or FLAC clip, refusing empty, non-audio, corrupt, silent-of-samples or too long input."""
    import soundfile

    if not data:
        raise ClipError("the file is empty")
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ClipError(f"not a readable WAV or FLAC file ({_reason(exc)})") from None
    if info.format not in ACCEPTED_FORMATS:
        raise ClipError(f"{info.format} audio is not accepted; upload WAV or FLAC")
    if info.samplerate <= 0:
        raise ClipError("the header gives no sample rate")
    if info.frames / info.samplerate > max_seconds:
        raise ClipError(f"the clip is {info.frames / info.samplerate:.1f} s long; the limit is {max_seconds:g} s")
    try:
        audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise ClipError(f"the audio data is corrupt ({_reason(exc)})") from None
    if audio.shape[0] == 0:
        raise ClipError("the file holds no audio samples")
    if not np.isfinite(audio).all():
        raise ClipError("the audio holds NaN or infinite samples")
    return Clip(audio=audio, sample_rate=int(rate), format=ACCEPTED_FORMATS[info.format],
                sha256=hashlib.sha256(data).hexdigest())


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def split_windows(clip: Clip, window_seconds: float) -> ClipWindows:
    """Windows of `window_seconds` every 75 % of it, wholly inside the clip; a shorter clip is one
    zero-padded window (the feature code pads it; its `padded_share` says how much), and uncovered tail
    audio is reported, not hidden."""
    rate = clip.sample_rate
    length = int(round(window_seconds * rate))
    hop = int(round(window_hop_seconds(window_seconds) * rate))
    total = clip.audio.shape[0]
    if total < length:
        padded = 1.0 - total / length
        note = (f"the clip ({clip.duration_s:.2f} s) is shorter than one {window_seconds:g} s window; "
                f"it was zero-padded ({padded:.0%} of the window is padding)")
        return ClipWindows(audio=clip.audio[None], starts_s=[0.0], notes=[note], padded_share=[padded])
    starts = list(range(0, total - length + 1, hop))
    audio = np.stack([clip.audio[s:s + length] for s in starts])
    notes = []
    tail = total - (starts[-1] + length)
    if tail > 0:
        notes.append(f"the last {tail / rate:.2f} s do not fill a {window_seconds:g} s window on the "
                     f"{window_hop_seconds(window_seconds):g} s grid and were not classified")
    return ClipWindows(audio=audio, starts_s=[s / rate for s in starts], notes=notes,
                       padded_share=[0.0] * len(starts))


def require_real_audio(clip: Clip, window_seconds: float, min_share: float, model: str) -> None:
    """Refuse a clip that fills less than `min_share` of `model`'s window: the zero padding would
    dominate the features and the model would answer confidently about silence (ClipError says so)."""
    needed = min_share * window_seconds
    if clip.duration_s < needed:
        raise ClipError(f"the clip is {clip.duration_s:.1f} s; {model} needs at least {needed:.1f} s of real audio "
                        f"({min_share:.0%} of its {window_seconds:g}-s window)")
