"""Start times from file names (configurable pattern and format) or JSON sidecars."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ingest.timing import StartTimeError, file_timing, from_name
from oceanwatch.config import Settings

DEFAULT = Settings()
UTC = dt.timezone.utc


def test_default_pattern_reads_a_compact_iso_time() -> None:
    timing = from_name("MARS_20261101T013000Z.wav", DEFAULT.ingest.filename_pattern, DEFAULT.ingest.time_format)
    assert timing.start == dt.datetime(2026, 11, 1, 1, 30, tzinfo=UTC) and timing.hydrophone_id is None


def test_custom_pattern_with_hydrophone_group_and_zone() -> None:
    pattern = r"^(?P<hydrophone>[A-Z0-9]+)-(?P<ts>\d{4}-\d{2}-\d{2}_\d{2}\.\d{2}\.\d{2}[+-]\d{4})"
    timing = from_name("MB01-2026-03-04_05.06.07-0800.flac", pattern, "%Y-%m-%d_%H.%M.%S%z")
    assert timing.hydrophone_id == "MB01"
    assert timing.start == dt.datetime(2026, 3, 4, 13, 6, 7, tzinfo=UTC)


def test_epoch_seconds() -> None:
    timing = from_name("rec_1793491200.5.wav", r"rec_(?P<ts>\d+(\.\d+)?)", "epoch")
    assert timing.start.timestamp() == 1793491200.5


@pytest.mark.parametrize("name", ["recording.wav", "MARS_20261341T000000.wav"])
def test_names_without_a_valid_time_are_refused(name: str) -> None:
    with pytest.raises(StartTimeError):
        from_name(name, DEFAULT.ingest.filename_pattern, DEFAULT.ingest.time_format)


def test_a_sidecar_wins_over_the_name(tmp_path: Path) -> None:
    audio = tmp_path / "MARS_20261101T000000.wav"
    audio.write_bytes(b"")
    (tmp_path / "MARS_20261101T000000.json").write_text(
        json.dumps({"start_time": "2026-11-02T03:04:05.250Z", "hydrophone_id": "H2"})
    )
    timing = file_timing(audio, DEFAULT.ingest.filename_pattern, DEFAULT.ingest.time_format)
    assert timing.start == dt.datetime(2026, 11, 2, 3, 4, 5, 250000, tzinfo=UTC) and timing.hydrophone_id == "H2"


def test_a_broken_sidecar_is_a_clear_error(tmp_path: Path) -> None:
    audio = tmp_path / "x.wav"
    audio.write_bytes(b"")
    (tmp_path / "x.wav.json").write_text("{not json")
    with pytest.raises(StartTimeError, match="sidecar"):
        file_timing(audio, DEFAULT.ingest.filename_pattern, DEFAULT.ingest.time_format)
