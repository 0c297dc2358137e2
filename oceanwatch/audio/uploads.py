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
from typing import TYPE_CHECKING

import numpy as np

from oceanwatch.audio.features import window_hop_seconds

if TYPE_CHECKING:
    import soundfile

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


def read_clip(data: bytes, max_seconds: float, max_samples: int) -> Clip:
    """Decode a WAV or FLAC clip, refusing empty, non-audio, corrupt, silent-of-samples, too long or too
    large input.

    Size on disk says little about size in memory (ten minutes of silent 48 kHz stereo FLAC is ~100 kB
    and decodes to 230 MB), so the decoded size, frames x channels, is bounded by `max_samples`: from
    the header before anything is decoded, and again while decoding in blocks, because a FLAC header
    may leave the length out (libsndfile then reports a huge sentinel) or understate it.
    """
    import soundfile

    if not data:
        raise ClipError("the file is empty")
    try:
        sound = soundfile.SoundFile(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ClipError(f"not a readable WAV or FLAC file ({_reason(exc)})") from None
    with sound:
        if sound.format not in ACCEPTED_FORMATS:
            raise ClipError(f"{sound.format} audio is not accepted; upload WAV or FLAC")
        if sound.samplerate <= 0:
            raise ClipError("the header gives no sample rate")
        limit = _FrameLimit(int(sound.samplerate), int(sound.channels), max_seconds, max_samples)
        if _length_known(sound.frames):
            limit.check(sound.frames, from_header=True)
        audio = _decode(sound, limit)
        rate, fmt = int(sound.samplerate), ACCEPTED_FORMATS[sound.format]
    if audio.shape[0] == 0:
        raise ClipError("the file holds no audio samples")
    if not np.isfinite(audio).all():
        raise ClipError("the audio holds NaN or infinite samples")
    return Clip(audio=audio, sample_rate=rate, format=fmt, sha256=hashlib.sha256(data).hexdigest())


BLOCK_FRAMES = 1 << 16


def _length_known(frames: int) -> bool:
    """False for libsndfile's "unknown length" (2**63 - 1 frames, from a FLAC header without one)."""
    return 0 < frames < 2**62


@dataclass(frozen=True)
class _FrameLimit:
    """The most frames a clip may decode to, and which rule (seconds or samples) sets it."""

    rate: int
    channels: int
    max_seconds: float
    max_samples: int

    @property
    def frames(self) -> int:
        return min(int(self.max_seconds * self.rate), self.max_samples // max(self.channels, 1))

    def check(self, frames: int, from_header: bool = False) -> None:
        """Raise ClipError when `frames` (the header's, or decoded so far) is over the limit, naming the rule."""
        if frames <= self.frames:
            return
        seconds = frames / self.rate
        subject = "the header says the clip" if from_header else "the clip"
        if seconds > self.max_seconds:
            length = f"is {seconds:.1f} s long" if from_header else f"is longer than {self.max_seconds:g} s"
            raise ClipError(f"{subject} {length}; the limit is {self.max_seconds:g} s")
        raise ClipError(
            f"{subject} decodes to {'' if from_header else 'at least '}"
            f"{frames * self.channels:,} samples ({self.channels} channel(s) at {self.rate} Hz for "
            f"{seconds:.1f} s); the limit is {self.max_samples:,} samples: upload fewer channels, "
            f"a lower sample rate or a shorter clip"
        )


def _decode(sound: soundfile.SoundFile, limit: _FrameLimit) -> np.ndarray:
    """The clip's samples, read in blocks and refused as soon as they pass `limit`.

    soundfile re-seeks after every read, and libsndfile cannot seek to the end of a FLAC whose header
    omits or understates its length, so the read that reaches the end may raise after decoding its
    frames; blocks are NaN-filled first (FLAC decodes integers, never NaN), so a short block tells where
    it ended.
    """
    import soundfile

    blocks: list[np.ndarray] = []
    total = 0
    while True:
        block = np.full((BLOCK_FRAMES, sound.channels), np.nan, dtype=np.float32)
        try:
            got = len(sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True, out=block))
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            unread = np.isnan(block[:, 0])
            got = int(unread.argmax()) if unread.any() else BLOCK_FRAMES
            # the failing re-seek at the end of a FLAC, after the frames its header promised (or of one
            # whose header gives none); anywhere else the stream itself is broken (a FLAC losing sync)
            at_end = (
                sound.format == "FLAC"
                and unread.any()
                and (not _length_known(sound.frames) or total + got >= sound.frames)
            )
            if not at_end:
                raise ClipError(f"the audio data is corrupt ({_reason(exc)})") from None
        total += got
        limit.check(total)
        if got:
            blocks.append(block[:got])
        if got < BLOCK_FRAMES:
            break
    if not blocks:
        return np.zeros((0, sound.channels), dtype=np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _reason(exc: BaseException) -> str:
    """libsndfile's own words, without soundfile's prefix naming the in-memory file object."""
    text = str(getattr(exc, "error_string", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
        note = (
            f"the clip ({clip.duration_s:.2f} s) is shorter than one {window_seconds:g} s window; "
            f"it was zero-padded ({padded:.0%} of the window is padding)"
        )
        return ClipWindows(audio=clip.audio[None], starts_s=[0.0], notes=[note], padded_share=[padded])
    starts = list(range(0, total - length + 1, hop))
    audio = np.stack([clip.audio[s : s + length] for s in starts])
    notes = []
    tail = total - (starts[-1] + length)
    if tail > 0:
        notes.append(
            f"the last {tail / rate:.2f} s do not fill a {window_seconds:g} s window on the "
            f"{window_hop_seconds(window_seconds):g} s grid and were not classified"
        )
    return ClipWindows(audio=audio, starts_s=[s / rate for s in starts], notes=notes, padded_share=[0.0] * len(starts))


def require_real_audio(clip: Clip, window_seconds: float, min_share: float, model: str) -> None:
    """Refuse a clip that fills less than `min_share` of `model`'s window: the zero padding would
    dominate the features and the model would answer confidently about silence (ClipError says so)."""
    needed = min_share * window_seconds
    if clip.duration_s < needed:
        raise ClipError(
            f"the clip is {clip.duration_s:.1f} s; {model} needs at least {needed:.1f} s of real audio "
            f"({min_share:.0%} of its {window_seconds:g}-s window)"
        )
