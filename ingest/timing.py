"""When a recording starts: from a JSON sidecar next to it, or from its file name.

Recorders name files in many ways, so the name is matched with a configurable regular
expression whose `ts` group holds the time, parsed with a strptime format (or `epoch` for
Unix seconds).  An optional `hydrophone` group names the sensor.  A sidecar
(`<file>.json` or `<stem>.json`, keys `start_time` ISO 8601 and optionally `hydrophone_id`
and `align`, `grid` or `file`, see `ingest.directory`) wins over the name.  Times without a zone are UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path


class StartTimeError(ValueError):
    """The start time (or hydrophone) of a file cannot be known: the file is quarantined."""


@dataclass(frozen=True)
class FileTiming:
    start: dt.datetime
    hydrophone_id: str | None = None
    align: str | None = None


def sidecar_path(audio: Path) -> Path | None:
    """The JSON sidecar of `audio`, if one exists."""
    for candidate in (audio.with_name(audio.name + ".json"), audio.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    return None


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def from_sidecar(path: Path) -> FileTiming:
    try:
        data = json.loads(path.read_text())
        start = _aware(dt.datetime.fromisoformat(str(data["start_time"]).replace("Z", "+00:00")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StartTimeError(f"sidecar {path.name} has no valid start_time ({type(exc).__name__}: {exc})") from None
    hydrophone, align = data.get("hydrophone_id"), data.get("align")
    return FileTiming(start, str(hydrophone) if hydrophone else None, str(align) if align else None)


def from_name(name: str, pattern: str, time_format: str) -> FileTiming:
    match = re.search(pattern, name)
    if match is None or "ts" not in match.groupdict():
        raise StartTimeError(f"file name {name!r} does not match INGEST_FILENAME_PATTERN {pattern!r}")
    raw = match.group("ts")
    try:
        if time_format == "epoch":
            start = dt.datetime.fromtimestamp(float(raw), tz=dt.timezone.utc)
        else:
            start = _aware(dt.datetime.strptime(raw, time_format))
    except ValueError as exc:
        raise StartTimeError(f"time {raw!r} in {name!r} does not parse with {time_format!r}: {exc}") from None
    hydrophone = match.groupdict().get("hydrophone")
    return FileTiming(start, hydrophone or None)


def file_timing(path: Path, pattern: str, time_format: str) -> FileTiming:
    """Start time and hydrophone of an audio file: sidecar first, else the name."""
    sidecar = sidecar_path(path)
    if sidecar is not None:
        return from_sidecar(sidecar)
    return from_name(path.name, pattern, time_format)
