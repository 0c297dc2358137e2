"""Storing and publishing windows: features per deployed spec, Postgres rows, FLAC clips, Kafka messages.

One batch is one transaction: insert the windows (a window already stored for that hydrophone
and start is left alone, which is what makes re-ingesting idempotent), insert their
spectrograms, write their clips, commit; then publish and flush the messages, so a consumer
never receives a window that is not in Postgres yet.  A file whose ingest died between commit
and publish is still `ingesting` in `audio_files`; ingesting it again republishes its windows.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from kafka import KafkaProducer
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from oceanwatch.clips import clip_relpath
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel, Spectrogram, Window
from oceanwatch.features import DEFAULT_SPEC, FeatureSpec, compute_batch
from oceanwatch.messages import PackedArray, WindowMessage, to_epoch_ms
from oceanwatch.registry.store import mark_unhealthy
from ingest.assembler import AudioWindow

log = logging.getLogger(__name__)


@dataclass
class DeployedSpec:
    """A distinct feature spec of the active models, with the models reading it."""

    spec: FeatureSpec
    model_ids: list[int] = field(default_factory=list)
    healthy: bool = False  # at least one of those models is healthy


def active_feature_specs(url: str) -> tuple[list[DeployedSpec], dict[int, str]]:
    """The distinct feature specs of active models (DEFAULT_SPEC, read by no model, when none is deployed),
    and the healthy active models whose stored spec is not a valid spec at all, with the reason."""
    with session_scope(url) as session:
        rows = session.execute(select(MLModel.id, MLModel.healthy, MLModel.feature_spec)
                               .where(MLModel.status == "active").order_by(MLModel.id)).all()
    specs: dict[str, DeployedSpec] = {}
    invalid: dict[int, str] = {}
    for model_id, healthy, data in rows:
        try:
            spec = FeatureSpec.from_dict(data)
        except (TypeError, ValueError) as exc:  # the registry validates specs; an odd row must not stop ingest
            if healthy:
                invalid[model_id] = f"ingest: its feature spec is invalid: {exc}"
            continue
        deployed = specs.setdefault(spec.hash, DeployedSpec(spec))
        deployed.model_ids.append(model_id)
        deployed.healthy |= bool(healthy)
    return list(specs.values()) or [DeployedSpec(DEFAULT_SPEC, healthy=True)], invalid


@dataclass
class ActiveSpecs:
    """The deployed specs, re-read at most every `refresh_s` so a new model's spec is picked up live.

    A spec that fails is isolated: counted once, its models marked unhealthy with the reason, and
    left out of later batches until one of its models is healthy again (redeployed), so one bad
    model costs one failure, not one per batch, and never the windows or the other specs.
    """

    url: str
    refresh_s: float = 30.0
    _specs: list[DeployedSpec] = field(default_factory=list)
    _failed: set[str] = field(default_factory=set)
    _read_at: float = -1e18

    def get(self, counts: Counter) -> list[FeatureSpec]:
        if time.monotonic() - self._read_at >= self.refresh_s:
            self._specs, invalid = active_feature_specs(self.url)
            self._read_at = time.monotonic()
            self._failed = {d.spec.hash for d in self._specs if d.spec.hash in self._failed and not d.healthy}
            for model_id, reason in invalid.items():
                self._mark(counts, [model_id], reason)
        return [d.spec for d in self._specs if d.spec.hash not in self._failed]

    def fail(self, spec: FeatureSpec, reason: str, counts: Counter) -> None:
        """A spec whose features could not be computed: count it, mark its models, skip it from now on."""
        self._failed.add(spec.hash)
        self._mark(counts, next((d.model_ids for d in self._specs if d.spec.hash == spec.hash), []), reason)

    def _mark(self, counts: Counter, model_ids: list[int], reason: str) -> None:
        counts["feature_spec_failures"] += 1
        log.error("feature spec failed for models %s, marked unhealthy: %s", model_ids, reason)
        for model_id in model_ids:
            mark_unhealthy(self.url, model_id, reason)


def features_for(windows: list[AudioWindow], specs: ActiveSpecs, counts: Counter) -> dict[str, np.ndarray]:
    """Features of a batch of windows of one sample rate and channel count, per spec hash.

    A spec needing more channels than the audio has is skipped (a mono file cannot feed a
    4-channel model); its models get no input from these windows.  A spec whose computation
    fails is handed to `specs.fail`; the windows and every other spec's features go on.
    """
    audio = np.stack([w.audio for w in windows])
    out = {}
    for spec in specs.get(counts):
        if spec.channels > audio.shape[2]:
            continue
        try:
            out[spec.hash] = compute_batch(spec, audio, windows[0].sample_rate).astype(np.float16)
        except Exception as exc:  # numpy, scipy and librosa raise many types; any one spec must not stop ingest
            specs.fail(spec, f"ingest cannot compute its features: {type(exc).__name__}: {exc}", counts)
    return out


def write_clip(clips_dir: Path, window: AudioWindow) -> str:
    """A playable FLAC (16-bit, the pressure channel) of the window for the web player; returns its relative path.

    Only a newly stored window writes its clip, so a later overlapping file never replaces the
    audio behind features already computed.
    """
    rel = clip_relpath(window.hydrophone_id, window.start)
    path = clips_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    sf.write(tmp, window.audio[:, 0], window.sample_rate, subtype="PCM_16", format="FLAC")
    tmp.replace(path)
    return rel


def rms_db(audio: np.ndarray) -> float:
    """RMS of the pressure channel in dB re full scale (-inf floored at -200)."""
    rms = float(np.sqrt(np.mean(np.square(audio[:, 0], dtype=np.float64))))
    return 20 * float(np.log10(max(rms, 1e-10)))


@dataclass
class WriteResult:
    stored: int = 0
    existing: int = 0
    messages: list[WindowMessage] = field(default_factory=list)


class WindowWriter:
    """Writes batches of windows to Postgres, clips to disk and messages to Kafka (see module doc)."""

    def __init__(self, url: str, producer: KafkaProducer, topic: str, clips_dir: Path | None) -> None:
        self.url = url
        self.producer = producer
        self.topic = topic
        self.clips_dir = clips_dir
        self._clip_pool = ThreadPoolExecutor(2, "ingest-clips")  # FLAC encoding releases the GIL

    def write(self, windows: list[AudioWindow], features: dict[str, np.ndarray],
              republish_existing: bool = False) -> WriteResult:
        """Store the windows not stored yet (with spectrograms and clips), commit, then publish them.

        `republish_existing` also publishes windows that were already stored: a file whose
        earlier ingest died between commit and publish is resumed that way (the predict stream
        is idempotent, a repeat costs nothing).
        """
        result = WriteResult()
        if not windows:
            return result
        rows = [{
            "hydrophone_id": w.hydrophone_id, "audio_file_id": w.audio_file_id,
            "start_time": dt.datetime.fromtimestamp(w.start, tz=dt.timezone.utc),
            "end_time": dt.datetime.fromtimestamp(w.start + w.seconds, tz=dt.timezone.utc),
            "sample_rate": w.sample_rate, "channels": w.channels, "rms_db": rms_db(w.audio), "source": w.source,
            "clip_path": clip_relpath(w.hydrophone_id, w.start) if self.clips_dir is not None else None,
        } for w in windows]
        keys = [(row["hydrophone_id"], row["start_time"]) for row in rows]
        with session_scope(self.url) as session:
            inserted = session.execute(
                insert(Window).values(rows).on_conflict_do_nothing(index_elements=["hydrophone_id", "start_time"])
                .returning(Window.id, Window.hydrophone_id, Window.start_time)).all()
            ids = {(r.hydrophone_id, r.start_time): r.id for r in inserted}
            new = [(i, ids[key]) for i, key in enumerate(keys) if key in ids]
            result.existing = len(windows) - len(new)
            clips = ([self._clip_pool.submit(write_clip, self.clips_dir, windows[i]) for i, _ in new]
                     if self.clips_dir is not None else [])
            publish = list(new)
            if republish_existing and result.existing:
                old = session.execute(select(Window.id, Window.hydrophone_id, Window.start_time).where(
                    Window.hydrophone_id == windows[0].hydrophone_id,
                    Window.start_time.in_([key[1] for key in keys if key not in ids]))).all()
                found = {(r.hydrophone_id, r.start_time): r.id for r in old}
                publish += [(i, found[key]) for i, key in enumerate(keys) if key in found]
            packed = {h: {i: PackedArray.pack(f[i]) for i, _ in publish} for h, f in features.items()}
            spec_rows = [{"window_id": wid, "spec_hash": h, "dtype": p[i].dtype, "shape": list(p[i].shape),
                          "data": p[i].data} for h, p in packed.items() for i, wid in publish]
            if spec_rows:  # existing windows gain the specs they lack; what they have stays
                session.execute(insert(Spectrogram).values(spec_rows).on_conflict_do_nothing())
            for done in clips:
                done.result()  # a clip that cannot be written fails the batch before anything is committed
        # Committed first, so a consumer never sees a message whose window it cannot find.
        sends = []
        for i, wid in publish:
            window, row = windows[i], rows[i]
            message = WindowMessage(window_id=wid, hydrophone_id=window.hydrophone_id,
                                    start_ms=to_epoch_ms(row["start_time"]), end_ms=to_epoch_ms(row["end_time"]),
                                    sample_rate=window.sample_rate, channels=window.channels,
                                    clip_path=row["clip_path"], features={h: p[i] for h, p in packed.items()})
            sends.append(self.producer.send(self.topic, key=window.hydrophone_id.encode(), value=message.encode()))
            result.messages.append(message)
        self.producer.flush()  # backpressure: nothing more is read until the broker has these
        failed = [f.exception for f in sends if f.failed()]
        if failed:  # stop: the file stays `ingesting`, so its re-ingest republishes these windows
            raise RuntimeError(f"{len(failed)} of {len(sends)} window messages were not delivered: {failed[0]}")
        result.stored = len(new)
        return result
