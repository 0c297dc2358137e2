"""The watched-directory source: WAV/FLAC files dropped by recorders, ingested once each.

A file is read only when it is complete: names ending `.part` (or starting with `.`) are
still being written, and any other file must keep the same size and mtime for
`stable_s` seconds.  Each file is read in blocks (memory stays bounded for long files), then
moved to the archive directory; a file that cannot be used (unreadable, empty, no start time,
unknown hydrophone) is moved to the quarantine directory next to a `<name>.reason.txt`
saying why, and recorded in `audio_files` with status `quarantined` under the hydrophone its
sidecar or name gives.

Windows start on the global grid (`grid`: audio runs on across consecutive files) or at each
file's own start (`file`: archive clips and recorders that do not start on the grid); the
directory's `align`, a per-hydrophone override and a sidecar's `align` choose.  A file read
without error that gives no window is archived with status `no_windows` and the reason (it
is read again if dropped again, e.g. after switching it to `file`), and logged as a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np
import soundfile as sf
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from ingest.assembler import Segment
from ingest.pipeline import Ingestor
from ingest.timing import FileTiming, StartTimeError, file_timing, sidecar_path
from oceanwatch.checksums import sha256_file
from oceanwatch.config import AlignMode
from oceanwatch.db import session_scope
from oceanwatch.db.models import AudioFile, Hydrophone

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac")
IN_PROGRESS_SUFFIXES = (".part", ".tmp")
SIDECAR_SUFFIX = ".json"
ALIGN_MODES = get_args(AlignMode)


class Rejected(Exception):
    """A file that cannot be ingested; the message is the reason written next to it in quarantine."""


@dataclass
class StabilityTracker:
    """Says when a file has stopped changing: same (size, mtime) for `stable_s` seconds."""

    stable_s: float
    _seen: dict[Path, tuple[tuple[int, int], float]] = field(default_factory=dict)

    def ready(self, paths: list[Path], now: float) -> list[Path]:
        out = []
        current = {}
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            state = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(path)
            since = previous[1] if previous and previous[0] == state else now
            current[path] = (state, since)
            if now - since >= self.stable_s:
                out.append(path)
        self._seen = current
        return out


def candidates(directory: Path) -> list[Path]:
    """Files of the directory (not sub-directories) that may be recordings, in name order."""
    out = []
    for path in sorted(directory.iterdir()):
        name = path.name
        if not path.is_file() or name.startswith(".") or name.endswith(IN_PROGRESS_SUFFIXES):
            continue
        if name.endswith(SIDECAR_SUFFIX) or name.endswith(".reason.txt"):
            continue
        out.append(path)
    return out


def _move(path: Path, target_dir: Path) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    k = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{k}{path.suffix}"
        k += 1
    shutil.move(str(path), str(target))
    return target


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.timezone.utc).isoformat(timespec="milliseconds")


def no_window_reason(duration_s: float, start: float, align: str, window_s: float, hop_s: float) -> str:
    """Why a file read without error gave no window, for its `audio_files` row and the log."""
    if duration_s < window_s:
        reason = f"shorter than one window ({duration_s:.1f} s < {window_s:g} s)"
    else:
        reason = (
            f"no window of the {hop_s:g}-s grid fits in it ({duration_s:.1f} s starting "
            f"{start % hop_s:.1f} s after a grid point)"
        )
    if align == "grid":
        reason += "; in grid mode its audio may still complete a window with the next contiguous file"
    return reason


@dataclass
class DirectorySource:
    """Watches `directory`, ingesting each complete file through `ingestor` (see module doc)."""

    url: str
    ingestor: Ingestor
    directory: Path
    quarantine_dir: Path
    archive_dir: Path
    default_hydrophone: str
    filename_pattern: str
    time_format: str
    stable_s: float = 2.0
    block_seconds: float = 300.0
    clock: Callable[[], float] = time.time
    counts: Counter = field(default_factory=Counter)
    align: str = "grid"
    align_by_hydrophone: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tracker = StabilityTracker(self.stable_s)
        self.directory.mkdir(parents=True, exist_ok=True)

    def poll(self) -> int:
        """One scan: ingest every file that is ready; returns how many files were handled."""
        ready = self.tracker.ready(candidates(self.directory), self.clock())
        for path in ready:
            self.ingest_file(path)
        return len(ready)

    def ingest_file(self, path: Path) -> str:
        """Ingest one complete file; returns its outcome: ingested, no_windows, duplicate or quarantined."""
        file_id: int | None = None
        hydrophone = self.default_hydrophone
        try:
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                raise Rejected(f"not a WAV or FLAC file (suffix {path.suffix!r})")
            timing: FileTiming | None = None
            no_start = ""
            try:  # before any other check, so even an unusable file is filed under its own hydrophone
                timing = file_timing(path, self.filename_pattern, self.time_format)
                hydrophone = timing.hydrophone_id or self.default_hydrophone
            except StartTimeError as exc:
                no_start = f"no start time: {exc}"
            if path.stat().st_size == 0:
                raise Rejected("empty file")
            if timing is None:
                raise Rejected(no_start)
            if not self._hydrophone_exists(hydrophone):
                bad, hydrophone = hydrophone, None
                raise Rejected(f"unknown hydrophone {bad!r} (add it to the hydrophones table)")
            align = timing.align or self.align_by_hydrophone.get(hydrophone) or self.align
            if align not in ALIGN_MODES:
                raise Rejected(f"align {align!r} is not one of {', '.join(ALIGN_MODES)}")
            try:
                info = sf.info(str(path))
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                raise Rejected(f"unreadable audio: {exc}") from None
            if info.frames <= 0 or info.samplerate <= 0:
                raise Rejected("no audio frames")
            file_id, status = self._register(path, hydrophone, info, timing.start)
            if status == "ingested":
                self.counts["files_duplicate"] += 1
                log.info("%s was already ingested (same content); archived without re-ingesting", path.name)
                self._archive(path)
                return "duplicate"
            windows_before = self.ingestor.counts["windows_stored"] + self.ingestor.counts["windows_existing"]
            # a file left `ingesting` by a crash may have stored windows it never published
            self.ingestor.republish_existing = status == "ingesting"
            try:
                self._read(path, hydrophone, timing.start.timestamp(), file_id, align)
            finally:
                self.ingestor.republish_existing = False
            windows = self.ingestor.counts["windows_stored"] + self.ingestor.counts["windows_existing"] - windows_before
            if windows == 0:
                reason = no_window_reason(
                    info.duration,
                    timing.start.timestamp(),
                    align,
                    self.ingestor.window_seconds,
                    self.ingestor.hop_seconds,
                )
                self._finish(file_id, "no_windows", reason, 0)
                self._archive(path)
                self.counts["files_no_windows"] += 1
                log.warning("no windows from %s: %s", path.name, reason)
                return "no_windows"
            self._finish(file_id, "ingested", None, windows)
            self._archive(path)
            self.counts["files_ingested"] += 1
            log.info("ingested %s: %.1f s, %d windows", path.name, info.duration, windows)
            return "ingested"
        except Rejected as exc:
            self._quarantine(path, str(exc), file_id, hydrophone)
            return "quarantined"

    def _read(self, path: Path, hydrophone: str, start: float, file_id: int, align: str) -> None:
        assembler = self.ingestor.file_assembler(start) if align == "file" else None
        block = 0
        try:
            with sf.SoundFile(str(path)) as audio:
                sr = audio.samplerate
                frames = max(1, int(self.block_seconds * sr))
                offset = 0
                while True:
                    data = audio.read(frames, dtype="float32", always_2d=True)
                    if data.shape[0] == 0:
                        break
                    finite = np.isfinite(data).all(axis=1)
                    if not finite.all():
                        first_bad = int(np.argmin(finite))
                        # the audio before it is kept, like the blocks before it
                        self.ingestor.feed(
                            Segment(hydrophone, start + offset / sr, data[:first_bad], sr, file_id, "file"), assembler
                        )
                        at = (offset + first_bad) / sr
                        raise Rejected(f"non-finite sample at {_iso(start + at)} ({at:.3f} s into the file)")
                    self.ingestor.feed(Segment(hydrophone, start + offset / sr, data, sr, file_id, "file"), assembler)
                    offset += data.shape[0]
                    block += 1
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise Rejected(f"read failed in block {block}: {exc}") from None
        finally:
            self.ingestor.flush()  # what was read is kept even if the rest of the file is bad

    def _hydrophone_exists(self, hydrophone: str) -> bool:
        with session_scope(self.url) as session:
            return session.get(Hydrophone, hydrophone) is not None

    def _register(self, path: Path, hydrophone: str, info: sf._SoundFileInfo, start: dt.datetime) -> tuple[int, str]:
        """The file's audio_files row id and prior status: `new`, or that of the same content seen before."""
        sha = sha256_file(path)
        values = dict(
            hydrophone_id=hydrophone,
            path=str(path),
            sha256=sha,
            sample_rate=info.samplerate,
            channels=info.channels,
            subtype=info.subtype,
            start_time=start,
            duration_s=info.duration,
            status="ingesting",
        )
        with session_scope(self.url) as session:
            created = session.execute(
                insert(AudioFile)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["hydrophone_id", "sha256"])
                .returning(AudioFile.id)
            ).scalar()
            if created is not None:
                return created, "new"
            row = session.execute(
                select(AudioFile.id, AudioFile.status).where(
                    AudioFile.hydrophone_id == hydrophone, AudioFile.sha256 == sha
                )
            ).one()
            session.execute(update(AudioFile).where(AudioFile.id == row.id).values(path=str(path)))
        return row.id, row.status

    def _finish(self, file_id: int, status: str, error: str | None, windows: int | None = None) -> None:
        values: dict[str, object] = {"status": status, "error": error}
        if windows is not None:
            values["windows_count"] = windows
        with session_scope(self.url) as session:
            session.execute(update(AudioFile).where(AudioFile.id == file_id).values(**values))

    def _archive(self, path: Path) -> None:
        sidecar = sidecar_path(path)
        _move(path, self.archive_dir)
        if sidecar is not None:
            _move(sidecar, self.archive_dir)

    def _quarantine(self, path: Path, reason: str, file_id: int | None, hydrophone: str | None) -> None:
        self.counts["files_quarantined"] += 1
        log.warning("quarantined %s: %s", path.name, reason)
        sidecar = sidecar_path(path)
        moved = _move(path, self.quarantine_dir)
        if sidecar is not None:
            _move(sidecar, self.quarantine_dir)
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        moved.with_name(moved.name + ".reason.txt").write_text(f"{stamp} {path.name}: {reason}\n")
        if file_id is not None:
            self._finish(file_id, "quarantined", reason)
        elif hydrophone is not None and self._hydrophone_exists(hydrophone):
            with session_scope(self.url) as session:
                session.execute(
                    insert(AudioFile)
                    .values(
                        hydrophone_id=hydrophone,
                        path=str(moved),
                        sha256=sha256_file(moved),
                        status="quarantined",
                        error=reason,
                    )
                    .on_conflict_do_nothing(index_elements=["hydrophone_id", "sha256"])
                )
