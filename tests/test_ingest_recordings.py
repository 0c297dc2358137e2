"""Recordings as archives and recorders ship them, through the watched directory into Postgres: clips
that are short or off the 22.5 s grid (file-aligned windows), a change of sample rate or channel count
on one hydrophone, NaN samples and empty files with a sidecar."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from app import create_app
from ingest.service import make_ingestor
from ingest.sites import make_directory_source
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AudioFile, Hydrophone
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import make_producer
from tests.ingestkit import T0, Clock, noise, poll_until_stable, windows
from tests.webkit import logged_in

pytestmark = pytest.mark.integration

OFF_GRID = T0 + dt.timedelta(seconds=5.0)  # 5 s after a grid point: no 30 s grid window fits in 30.08 s


def offsets(rows, origin: dt.datetime = T0) -> list[float]:
    return [round((w.start_time - origin).total_seconds(), 6) for w in rows]


def file_rows(url: str) -> dict[str, AudioFile]:
    with session_scope(url) as session:
        return {f.path.rsplit("/", 1)[-1]: f for f in session.scalars(select(AudioFile))}


def drop_with_sidecar(
    source,
    clock: Clock,
    name: str,
    audio: np.ndarray,
    sample_rate: int,
    subtype: str,
    start: dt.datetime,
    **sidecar: str,
) -> None:
    sf.write(source.directory / name, audio, sample_rate, subtype=subtype)
    (source.directory / (name + ".json")).write_text(json.dumps({"start_time": start.isoformat(), **sidecar}))
    poll_until_stable(source, clock)


def test_file_aligned_clips_get_windows_from_their_own_start_and_short_ones_say_why(
    ingest, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    source, clock = ingest
    # a recorder file of 30.08 s at 48 kHz int24, 5 s off the grid, and 32 kHz float clips of 11 s and 70 s
    drop_with_sidecar(source, clock, "rec_0001.wav", noise(30.08, 48000), 48000, "PCM_24", OFF_GRID, align="file")
    with caplog.at_level(logging.WARNING, logger="ingest.directory"):
        drop_with_sidecar(
            source,
            clock,
            "ship_short.wav",
            noise(11.0, 32000),
            32000,
            "FLOAT",
            OFF_GRID + dt.timedelta(hours=1),
            align="file",
        )
    drop_with_sidecar(
        source,
        clock,
        "ship_long.wav",
        noise(70.0, 32000, seed=2),
        32000,
        "FLOAT",
        OFF_GRID + dt.timedelta(hours=2),
        align="file",
    )
    rows = windows(settings.database_url)
    assert offsets(rows, OFF_GRID) == [0.0, 7200.0, 7222.5]  # each wholly inside its file
    assert [(w.sample_rate, (w.end_time - w.start_time).total_seconds()) for w in rows] == [
        (48000, 30.0),
        (32000, 30.0),
        (32000, 30.0),
    ]
    files = file_rows(settings.database_url)
    assert (files["rec_0001.wav"].status, files["rec_0001.wav"].windows_count) == ("ingested", 1)
    assert (files["ship_long.wav"].status, files["ship_long.wav"].windows_count) == ("ingested", 2)
    short = files["ship_short.wav"]
    assert (short.status, short.windows_count) == ("no_windows", 0)
    assert short.error == "shorter than one window (11.0 s < 30 s)"
    assert any(
        r.levelno == logging.WARNING
        and "ship_short.wav" in r.getMessage()
        and "shorter than one window" in r.getMessage()
        for r in caplog.records
    )
    assert (source.archive_dir / "ship_short.wav").exists() and source.counts["files_no_windows"] == 1
    # the data page lists the files with their status and reason
    client = logged_in(create_app(settings=settings), settings, "viewer")
    html = client.get("/data/").get_data(as_text=True)
    assert f'id="audio-file-{short.id}" data-status="no_windows"' in html
    assert "ship_short.wav" in html and "shorter than one window (11.0 s &lt; 30 s)" in html
    assert f'id="audio-file-{files["rec_0001.wav"].id}" data-status="ingested"' in html


def test_grid_mode_is_kept_and_an_off_grid_file_says_why_it_has_no_window(ingest, settings: Settings) -> None:
    source, clock = ingest
    drop_with_sidecar(source, clock, "rec_0001.wav", noise(30.08, 48000), 48000, "PCM_24", OFF_GRID)
    assert windows(settings.database_url) == []
    row = file_rows(settings.database_url)["rec_0001.wav"]
    assert row.status == "no_windows" and "no window of the 22.5-s grid fits in it (30.1 s starting 5.0 s" in row.error
    # grid mode still runs audio on across consecutive files: the next file completes the 22.5 s window
    drop_with_sidecar(
        source,
        clock,
        "rec_0002.wav",
        noise(30.0, 48000, seed=1),
        48000,
        "PCM_24",
        OFF_GRID + dt.timedelta(seconds=30.08),
    )
    assert offsets(windows(settings.database_url)) == [22.5]


def test_alignment_per_hydrophone_from_the_settings(
    settings: Settings, new_topic: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    with session_scope(settings.database_url) as session:
        session.add(Hydrophone(id="H2", name="H2", latitude=36.8, longitude=-122.0))
    settings = settings.updated(
        ingest={
            "align_by_hydrophone": {"H2": "file"},
            "filename_pattern": r"(?P<hydrophone>[A-Z0-9]+)_(?P<ts>\d{8}T\d{6})",
        }
    )
    producer = make_producer(settings)
    source = make_directory_source(settings, make_ingestor(settings, producer, new_topic("align")))
    source.clock = clock = Clock()
    stamp = f"{OFF_GRID:%Y%m%dT%H%M%S}"
    for hydrophone in ("H2", "MARS"):
        sf.write(source.directory / f"{hydrophone}_{stamp}.flac", noise(30.08, 48000), 48000, subtype="PCM_24")
    poll_until_stable(source, clock)
    producer.close()
    rows = windows(settings.database_url)
    assert [(w.hydrophone_id, w.start_time) for w in rows] == [("H2", OFF_GRID)]
    assert file_rows(settings.database_url)[f"MARS_{stamp}.flac"].status == "no_windows"
    for variable, value, field in (
        ("INGEST_ALIGN", "start", "align"),
        ("INGEST_ALIGN_BY_HYDROPHONE", '{"H2": "files"}', "align_by_hydrophone"),
    ):
        with monkeypatch.context() as env:  # a typo stops the service at start, naming the setting
            env.setenv(variable, value)
            with pytest.raises(ValueError, match=rf"IngestSettings\n{field}\b"):
                Settings()


@pytest.mark.parametrize(
    "first,second", [((8000, 1, "PCM_16"), (48000, 1, "PCM_24")), ((32000, 1, "FLOAT"), (32000, 2, "FLOAT"))]
)
def test_a_file_of_another_format_before_the_next_window_loses_nothing(
    ingest, settings: Settings, first: tuple[int, int, str], second: tuple[int, int, str]
) -> None:
    source, clock = ingest
    rate, channels, subtype = first
    drop_with_sidecar(
        source, clock, "later.wav", noise(52.5, rate, channels), rate, subtype, T0 + dt.timedelta(seconds=450)
    )
    rate, channels, subtype = second  # an older recording of the same hydrophone, from another recorder
    drop_with_sidecar(source, clock, "earlier.wav", noise(52.5, rate, channels, seed=3), rate, subtype, T0)
    # and one that overlaps the first file's windows, in the new format
    drop_with_sidecar(
        source, clock, "overlap.wav", noise(70.0, rate, channels, seed=4), rate, subtype, T0 + dt.timedelta(seconds=460)
    )
    rows = windows(settings.database_url)
    assert [(o, w.sample_rate, w.channels) for o, w in zip(offsets(rows), rows)] == [
        (0.0, second[0], second[1]),
        (22.5, second[0], second[1]),
        (450.0, first[0], first[1]),
        (472.5, first[0], first[1]),
        (495.0, second[0], second[1]),
    ]
    files = file_rows(settings.database_url)
    assert {n: (f.status, f.windows_count) for n, f in files.items()} == {
        "later.wav": ("ingested", 2),
        "earlier.wav": ("ingested", 2),
        "overlap.wav": ("ingested", 2),
    }
    assert source.ingestor.counts["windows_existing"] == 1  # 472.5 was already stored from later.wav


def test_the_nan_reason_names_the_first_bad_sample(ingest, settings: Settings) -> None:
    source, clock = ingest
    source.block_seconds = 10.0  # the NaN is in the second block, 2.5 s after its start
    audio = noise(20.0, 32000)
    audio[int(12.5 * 32000) + 7] = np.nan
    drop_with_sidecar(source, clock, "clip.wav", audio, 32000, "FLOAT", T0)
    reason = (source.quarantine_dir / "clip.wav.reason.txt").read_text()
    assert "non-finite sample at 2026-11-01T00:00:12.500+00:00 (12.500 s into the file)" in reason
    assert file_rows(settings.database_url)["clip.wav"].status == "quarantined"


def test_an_empty_file_is_quarantined_under_its_sidecars_hydrophone(ingest, settings: Settings) -> None:
    source, clock = ingest
    with session_scope(settings.database_url) as session:
        session.add(Hydrophone(id="H2", name="H2", latitude=36.8, longitude=-122.0))
    (source.directory / "empty.wav").write_bytes(b"")
    (source.directory / "empty.wav.json").write_text(json.dumps({"start_time": T0.isoformat(), "hydrophone_id": "H2"}))
    poll_until_stable(source, clock)
    row = file_rows(settings.database_url)["empty.wav"]
    assert (row.hydrophone_id, row.status, row.error) == ("H2", "quarantined", "empty file")
    assert (source.quarantine_dir / "empty.wav.json").exists()
