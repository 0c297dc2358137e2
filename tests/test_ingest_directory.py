"""The watched directory end to end: files of every format in, windows in Postgres and on Kafka, bad files quarantined."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import func, select

from ingest.directory import DirectorySource
from oceanwatch.audio.features import DEFAULT_SPEC, compute
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AudioFile, MLModel, Spectrogram, Window
from oceanwatch.kafka import make_consumer
from oceanwatch.messages import WindowMessage
from tests.ingestkit import T0, Clock, noise, poll_until_stable, windows
from tests.modelkit import TINY_SPEC

pytestmark = pytest.mark.integration


def name_at(offset_s: float, suffix: str = ".wav") -> str:
    return f"MARS_{(T0 + dt.timedelta(seconds=offset_s)):%Y%m%dT%H%M%S}{suffix}"


def drop(
    source: DirectorySource, clock: Clock, name: str, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> Path:
    path = source.directory / name
    sf.write(path, audio, sample_rate, subtype=subtype)
    poll_until_stable(source, clock)
    return path


def consume(settings: Settings, topic: str, count: int) -> list[WindowMessage]:
    consumer = make_consumer(settings, f"t-{uuid.uuid4().hex[:6]}", topic, consumer_timeout_ms=15000)
    out = []
    try:
        for record in consumer:
            out.append(WindowMessage.decode(record.value))
            assert record.key == b"MARS"
            if len(out) >= count:
                break
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize(
    "sample_rate,channels,subtype,suffix",
    [
        (8000, 1, "PCM_16", ".wav"),
        (44100, 2, "PCM_24", ".wav"),
        (4000, 4, "FLOAT", ".wav"),
        (8000, 3, "PCM_U8", ".wav"),
        (16000, 1, "PCM_16", ".flac"),
        (8000, 4, "PCM_24", ".flac"),
    ],
)
def test_every_format_becomes_windows_in_postgres_and_on_kafka(
    ingest, settings: Settings, topic: str, sample_rate: int, channels: int, subtype: str, suffix: str
) -> None:
    source, clock = ingest
    audio = noise(52.5, sample_rate, channels)
    path = drop(source, clock, name_at(0, suffix), audio, sample_rate, subtype)
    rows = windows(settings.database_url)
    assert [(w.start_time - T0).total_seconds() for w in rows] == [0.0, 22.5]
    assert all(w.sample_rate == sample_rate and w.channels == channels and w.source == "file" for w in rows)
    assert not path.exists() and (source.archive_dir / path.name).exists()
    # features are those of the audio as written (within the file's quantisation and float16)
    written, _ = sf.read(source.archive_dir / path.name, dtype="float32", always_2d=True)
    with session_scope(settings.database_url) as session:
        spec_rows = session.scalars(select(Spectrogram).order_by(Spectrogram.window_id)).all()
        status = session.scalar(select(AudioFile.status))
    assert status == "ingested" and [s.spec_hash for s in spec_rows] == [DEFAULT_SPEC.hash] * 2
    first = np.frombuffer(spec_rows[0].data, dtype=np.dtype(spec_rows[0].dtype)).reshape(spec_rows[0].shape)
    expected = compute(DEFAULT_SPEC, written[: 30 * sample_rate], sample_rate)
    assert np.max(np.abs(first.astype(np.float32) - expected)) < 0.02
    # a playable clip of the pressure channel
    clip, clip_rate = sf.read(settings.data_dir / "clips" / rows[0].clip_path, always_2d=True)
    assert clip_rate == sample_rate and clip.shape == (30 * sample_rate, 1)
    messages = consume(settings, topic, 2)
    assert sorted(m.window_id for m in messages) == [w.id for w in rows]
    assert messages[0].features[DEFAULT_SPEC.hash].unpack().shape == DEFAULT_SPEC.input_shape
    assert messages[0].features[DEFAULT_SPEC.hash].dtype == "<f2"


def test_a_file_still_being_written_is_not_read_until_it_stops_changing(ingest, settings: Settings) -> None:
    source, clock = ingest
    full = source.directory.parent / "staging.wav"
    sf.write(full, noise(52.5, 8000), 8000, subtype="PCM_16")
    data = full.read_bytes()
    path = source.directory / name_at(0)
    path.write_bytes(data[: len(data) // 3])
    source.poll()
    clock.now += 1.0
    with open(path, "ab") as out:  # more arrives before the file is stable
        out.write(data[len(data) // 3 : 2 * len(data) // 3])
    source.poll()
    clock.now += 1.5  # 2.5 s since the first piece, but only 1.5 s since the last change
    assert source.poll() == 0 and path.exists() and windows(settings.database_url) == []
    with open(path, "ab") as out:
        out.write(data[2 * len(data) // 3 :])
    poll_until_stable(source, clock)
    assert len(windows(settings.database_url)) == 2


def test_part_files_wait_for_their_rename(ingest, settings: Settings) -> None:
    source, clock = ingest
    part = source.directory / (name_at(0) + ".part")
    sf.write(part, noise(52.5, 8000), 8000, subtype="PCM_16", format="WAV")
    for _ in range(3):
        poll_until_stable(source, clock)
    assert part.exists() and windows(settings.database_url) == []
    part.rename(source.directory / name_at(0))
    poll_until_stable(source, clock)
    assert len(windows(settings.database_url)) == 2


def test_bad_files_are_quarantined_with_a_reason_and_counted(ingest, settings: Settings) -> None:
    source, clock = ingest
    (source.directory / name_at(0)).write_bytes(b"RIFF\x00\x00garbage that is not a wave file" * 10)
    (source.directory / name_at(30)).write_bytes(b"")
    (source.directory / name_at(60, ".txt")).write_text("notes")
    sf.write(source.directory / "no_time_here.wav", noise(1.0, 8000), 8000)
    poll_until_stable(source, clock)
    source.filename_pattern = r"(?P<hydrophone>[A-Z]+)-(?P<ts>\d{8}T\d{6})"
    sf.write(source.directory / "NOPE-20261101T000000.wav", noise(1.0, 8000), 8000)
    poll_until_stable(source, clock)
    quarantined = sorted(p.name for p in source.quarantine_dir.iterdir() if not p.name.endswith(".reason.txt"))
    assert len(quarantined) == 5 and source.counts["files_quarantined"] == 5
    reasons = {p.name: p.read_text() for p in source.quarantine_dir.glob("*.reason.txt")}
    assert "unreadable audio" in reasons[name_at(0) + ".reason.txt"]
    assert "empty file" in reasons[name_at(30) + ".reason.txt"]
    assert "not a WAV or FLAC" in reasons[name_at(60, ".txt") + ".reason.txt"]
    assert "no start time" in reasons["no_time_here.wav.reason.txt"]
    assert "unknown hydrophone 'NOPE'" in reasons["NOPE-20261101T000000.wav.reason.txt"]
    assert windows(settings.database_url) == []
    with session_scope(settings.database_url) as session:
        statuses = session.scalars(select(AudioFile.status)).all()
    assert statuses and set(statuses) == {"quarantined"}
    assert [p.name for p in source.directory.iterdir() if p.is_file()] == []


def test_gaps_and_overlaps_between_files(ingest, settings: Settings) -> None:
    source, clock = ingest
    audio = noise(200.0, 8000)
    at = lambda t0, t1: audio[int(t0 * 8000) : int(t1 * 8000)]
    drop(source, clock, name_at(0), at(0, 40), 8000)
    drop(source, clock, name_at(40), at(40, 80), 8000)  # contiguous: 22.5-52.5 spans both
    drop(source, clock, name_at(70), at(70, 100), 8000)  # overlaps 70-80
    drop(source, clock, name_at(130), at(130, 200), 8000)  # gap 100-130
    starts = [(w.start_time - T0).total_seconds() for w in windows(settings.database_url)]
    assert starts == [0.0, 22.5, 45.0, 67.5, 135.0, 157.5]
    # the window spanning the file boundary is the original audio, not a splice with a jump
    with session_scope(settings.database_url) as session:
        row = session.execute(
            select(Spectrogram)
            .join(Window, Window.id == Spectrogram.window_id)
            .where(Window.start_time == T0 + dt.timedelta(seconds=22.5))
        ).scalar_one()
    stored = np.frombuffer(row.data, dtype=np.dtype(row.dtype)).reshape(row.shape).astype(np.float32)
    written = (
        sf.read(source.archive_dir / name_at(0))[0].tolist() + sf.read(source.archive_dir / name_at(40))[0].tolist()
    )
    expected = compute(DEFAULT_SPEC, np.array(written, dtype=np.float32)[22_5 * 800 : 52_5 * 800], 8000)
    assert np.max(np.abs(stored - expected)) < 0.02


def test_re_ingesting_creates_no_duplicates(ingest, settings: Settings, topic: str) -> None:
    source, clock = ingest
    audio = noise(52.5, 8000)
    path = drop(source, clock, name_at(0), audio, 8000)
    shutil.copy(source.archive_dir / path.name, source.directory / path.name)
    poll_until_stable(source, clock)  # the same content again
    assert source.counts["files_duplicate"] == 1
    sf.write(source.directory / name_at(0, "_v2.wav"), noise(52.5, 8000, seed=9), 8000)  # other audio, same times
    poll_until_stable(source, clock)
    rows = windows(settings.database_url)
    assert len(rows) == 2 and source.ingestor.counts["windows_existing"] == 2
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Spectrogram)) == 2
        assert session.scalar(select(func.count()).select_from(AudioFile)) == 2
    assert len(consume(settings, topic, 3)) == 2  # nothing published twice


def test_features_follow_the_specs_of_active_models(ingest, settings: Settings, topic: str) -> None:
    source, clock = ingest
    with session_scope(settings.database_url) as session:
        for k, (spec, status) in enumerate(
            [(TINY_SPEC, "active"), (TINY_SPEC, "active"), (DEFAULT_SPEC.__class__(n_mels=64), "inactive")]
        ):
            session.add(
                MLModel(
                    name=f"m{k}",
                    version="1",
                    task="multi_class",
                    class_names=list("ABCDE"),
                    feature_spec=spec.to_dict(),
                    feature_spec_hash=spec.hash,
                    artifact_path="x",
                    sha256="0" * 64,
                    manifest={},
                    status=status,
                )
            )
    drop(source, clock, name_at(0), noise(52.5, 8000), 8000)
    with session_scope(settings.database_url) as session:
        hashes = session.scalars(select(Spectrogram.spec_hash)).all()
    assert hashes == [TINY_SPEC.hash] * 2  # once per window per distinct active spec
    message = consume(settings, topic, 1)[0]
    assert message.features[TINY_SPEC.hash].unpack().shape == TINY_SPEC.input_shape


def test_a_file_left_half_done_by_a_crash_republishes_its_windows(ingest, settings: Settings, topic: str) -> None:
    source, clock = ingest
    path = drop(source, clock, name_at(0), noise(52.5, 8000), 8000)
    with session_scope(settings.database_url) as session:  # as if the process died before publishing
        session.execute(AudioFile.__table__.update().values(status="ingesting"))
    shutil.copy(source.archive_dir / path.name, source.directory / path.name)
    poll_until_stable(source, clock)
    assert len(windows(settings.database_url)) == 2
    messages = consume(settings, topic, 5)
    assert len(messages) == 4 and len({m.window_id for m in messages}) == 2
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(AudioFile.status)) == "ingested"
