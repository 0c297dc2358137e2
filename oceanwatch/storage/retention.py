"""Retention: old windows lose their spectrograms and clips, unless a person labelled or judged them.

The window rows, predictions, truth and scores stay (they are small and are the history); what
goes is the bulk (features per spec and FLAC clips, about 9 in 10 bytes of a site-day).  A window a
person labelled or gave feedback on keeps everything: it is evidence, and training data.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from oceanwatch.audio.clips import UnsafeClipPath, clip_file

log = logging.getLogger(__name__)

KEPT_BY_A_PERSON = """(exists (select 1 from human_labels h where h.window_id = w.id)
    or exists (select 1 from prediction_feedback f join predictions p on p.id = f.prediction_id
               where p.window_id = w.id))"""

_SPECTROGRAMS = text(f"""
    with old as (
        select w.id from windows w
        where w.start_time < :before and not {KEPT_BY_A_PERSON}
          and exists (select 1 from spectrograms s where s.window_id = w.id)
        order by w.start_time limit :batch)
    delete from spectrograms s using old where s.window_id = old.id""")

_CLIPS = text(f"""
    with old as (
        select w.id, w.clip_path from windows w
        where w.start_time < :before and w.clip_path is not null and not {KEPT_BY_A_PERSON}
        order by w.start_time limit :batch)
    update windows set clip_path = null from old where windows.id = old.id
    returning old.clip_path""")


@dataclass
class Pruned:
    spectrograms: int = 0
    clips: int = 0
    clip_bytes: int = 0


def prune_spectrograms(conn: Connection, before: dt.datetime, batch: int) -> int:
    """Delete the spectrograms of up to `batch` windows older than `before`, in the caller's transaction."""
    return int(conn.execute(_SPECTROGRAMS, {"before": before, "batch": batch}).rowcount or 0)


def forget_clips(conn: Connection, before: dt.datetime, batch: int) -> list[str]:
    """Unset the clips of up to `batch` windows older than `before` (caller's transaction); returns their
    paths, for the caller to delete once that transaction committed."""
    return list(conn.execute(_CLIPS, {"before": before, "batch": batch}).scalars())


def prune(
    engine: Engine, data_dir: Path, now: dt.datetime, spectrogram_days: float, clip_days: float, batch: int
) -> Pruned:
    """One retention pass (0 days keeps forever), in batches of `batch` windows, each its own transaction,
    so a pass over a year never holds a long lock; a clip file is deleted only after its row committed."""
    pruned = Pruned()
    if spectrogram_days > 0:
        before = now - dt.timedelta(days=spectrogram_days)
        while True:
            with engine.begin() as conn:
                deleted = prune_spectrograms(conn, before, batch)
            pruned.spectrograms += deleted
            if not deleted:
                break
    if clip_days > 0:
        before = now - dt.timedelta(days=clip_days)
        while True:
            with engine.begin() as conn:
                paths = forget_clips(conn, before, batch)
            if not paths:
                break
            for relative in paths:
                pruned.clips += 1
                pruned.clip_bytes += _delete(data_dir, relative)
    return pruned


def _delete(data_dir: Path, relative: str) -> int:
    try:
        path = clip_file(data_dir, relative)
        size = path.stat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return 0
    except UnsafeClipPath as exc:  # a row pointing outside the clips directory: never follow it
        log.warning("retention left %s alone: %s", relative, exc)
        return 0
