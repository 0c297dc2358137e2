"""Cutting a hydrophone's audio, arriving in segments of any length, into windows on a grid.

Pure and stateful only in its buffer: segments come in (from files or the simulator), windows
come out once every sample of them has arrived.  Small gaps (clock jitter between files) are
tolerated by treating the segments as contiguous; a larger gap drops the windows spanning it
(they would contain silence that never was); an overlap drops the samples already seen; a
segment wholly before what was already seen (a late file) is cut into windows on its own; a
segment of another sample rate or channel count cannot extend the buffer, so cutting starts
afresh at it (every window it holds comes out).  The grid is the global one (k * hop since the
epoch) unless `origin` moves it, which is how a file-aligned file gets windows from its own start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from oceanwatch.audio.features import grid_starts


@dataclass(frozen=True)
class Segment:
    """Contiguous audio of one hydrophone: (samples, channels) float32 starting at epoch second `start`."""

    hydrophone_id: str
    start: float
    audio: np.ndarray
    sample_rate: int
    audio_file_id: int | None = None
    source: str = "file"

    @property
    def end(self) -> float:
        return self.start + self.audio.shape[0] / self.sample_rate


@dataclass(frozen=True)
class AudioWindow:
    """One window's audio, ready for features, storage and publication."""

    hydrophone_id: str
    start: float
    audio: np.ndarray
    sample_rate: int
    audio_file_id: int | None
    source: str

    @property
    def seconds(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    @property
    def channels(self) -> int:
        return int(self.audio.shape[1])


@dataclass
class AssemblerStats:
    windows: int = 0
    gaps: int = 0
    overlaps: int = 0
    overlap_seconds: float = 0.0
    format_changes: int = 0
    late_segments: int = 0


@dataclass
class WindowAssembler:
    """Buffers one hydrophone's audio and emits every complete grid window (start = origin + k * hop)."""

    window_seconds: float
    hop_seconds: float
    gap_tolerance_s: float = 0.05
    origin: float = 0.0
    stats: AssemblerStats = field(default_factory=AssemblerStats)
    _buffer: np.ndarray | None = None
    _buffer_start: float = 0.0
    _sample_rate: int = 0
    _next_start: float = -math.inf

    def push(self, segment: Segment) -> list[AudioWindow]:
        """Add a segment; returns the windows it completed, in time order."""
        audio = np.asarray(segment.audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[:, None]
        if audio.shape[0] == 0:
            return []
        sr = segment.sample_rate
        start = segment.start
        if self._buffer is not None:
            buffer_end = self._buffer_start + self._buffer.shape[0] / self._sample_rate
            if segment.end <= buffer_end + self.gap_tolerance_s:
                # wholly in the past (a late file, of any format): cut it on its own; storage counts
                # the windows already there as existing
                self.stats.late_segments += 1
                return WindowAssembler(self.window_seconds, self.hop_seconds, self.gap_tolerance_s, self.origin).push(
                    segment
                )
            if sr != self._sample_rate or audio.shape[1] != self._buffer.shape[1]:
                # another format cannot extend the buffer: start afresh at this segment, forgetting
                # what was emitted (a window of it at a start already stored is counted as existing)
                self.stats.format_changes += 1
                self._buffer, self._next_start = None, -math.inf
            elif start < buffer_end - self.gap_tolerance_s:  # overlap: keep what we have, drop the repeat
                skip = int(round((buffer_end - start) * sr))
                self.stats.overlaps += 1
                self.stats.overlap_seconds += min(skip, audio.shape[0]) / sr
                if skip >= audio.shape[0]:
                    return []
                audio = audio[skip:]
                start = buffer_end
            elif start > buffer_end + self.gap_tolerance_s:
                self.stats.gaps += 1
                self._buffer = None
            else:
                start = buffer_end  # within tolerance: contiguous
        if self._buffer is None:
            self._buffer, self._buffer_start, self._sample_rate = audio, start, sr
        else:
            self._buffer = np.concatenate([self._buffer, audio])
        return self._emit(segment)

    def _emit(self, segment: Segment) -> list[AudioWindow]:
        assert self._buffer is not None
        sr = self._sample_rate
        n_window = int(round(self.window_seconds * sr))
        end = self._buffer_start + self._buffer.shape[0] / sr
        out = []
        for k in grid_starts(
            self._buffer_start - self.origin, end - self.origin, self.window_seconds, self.hop_seconds
        ):
            t = self.origin + k
            if t < self._next_start - 1e-6:
                continue  # already emitted from an earlier buffer
            first = int(round((t - self._buffer_start) * sr))
            chunk = self._buffer[first : first + n_window]
            if chunk.shape[0] < n_window:
                break
            out.append(AudioWindow(segment.hydrophone_id, t, chunk.copy(), sr, segment.audio_file_id, segment.source))
            self._next_start = t + self.hop_seconds
        # keep only what a future window can still need
        keep_from = max(self._next_start, self._buffer_start)
        drop = min(int(math.floor((keep_from - self._buffer_start) * sr)), self._buffer.shape[0])
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop / sr
        self.stats.windows += len(out)
        return out
