"""Where window clips live on disk: one convention for the writer (ingest) and the readers (web app).

`windows.clip_path` holds a path relative to DATA_DIR/clips, `<hydrophone>/<date>/<start>.flac`,
so a DATA_DIR moved or restored elsewhere keeps its clips playable.  Readers resolve it only
through `clip_file`, which refuses any path that would leave DATA_DIR/clips (absolute paths,
`..`, symlinks pointing out): the database is not trusted to name files to serve.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from urllib.parse import quote

CLIPS_DIR = "clips"


class UnsafeClipPath(ValueError):
    """A stored clip path that does not stay inside DATA_DIR/clips."""


def clips_root(data_dir: Path) -> Path:
    """The directory every clip lives under."""
    return data_dir / CLIPS_DIR


def clip_relpath(hydrophone_id: str, start: float) -> str:
    """Where the clip of the window of `hydrophone_id` starting at `start` (UNIX s) lives under DATA_DIR/clips.

    The hydrophone id is percent-encoded into one path component, so no id can climb out.
    """
    begin = dt.datetime.fromtimestamp(start, tz=dt.timezone.utc)
    stamp = begin.strftime("%Y%m%dT%H%M%S") + f".{begin.microsecond // 1000:03d}Z"
    return f"{_site_component(hydrophone_id)}/{begin:%Y-%m-%d}/{stamp}.flac"


def site_clips_dir(data_dir: Path, hydrophone_id: str) -> Path:
    """The directory holding every clip of one site."""
    return clips_root(data_dir) / _site_component(hydrophone_id)


def _site_component(hydrophone_id: str) -> str:
    component = quote(hydrophone_id, safe="")
    if not component.strip("."):
        raise ValueError(f"hydrophone id {hydrophone_id!r} cannot name a clip directory")
    return component


def clip_file(data_dir: Path, clip_path: str) -> Path:
    """The file a stored `clip_path` names (it may not exist); raises UnsafeClipPath if it leaves DATA_DIR/clips."""
    relative = PurePosixPath(clip_path)
    if not clip_path or relative.is_absolute() or ".." in relative.parts:
        raise UnsafeClipPath(f"clip path {clip_path!r} is not relative to {CLIPS_DIR}/")
    root = clips_root(data_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):  # a symlink inside the clips directory pointing out
        raise UnsafeClipPath(f"clip path {clip_path!r} leads outside {CLIPS_DIR}/")
    return path
