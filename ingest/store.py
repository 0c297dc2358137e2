"""Storing and publishing windows: features per deployed spec, Postgres rows, FLAC clips, Kafka messages.

One batch is one transaction: insert the windows (a window already stored for that hydrophone
and start is left alone, which is what makes re-ingesting idempotent), insert their
spectrograms, write their clips, commit; then publish, so a consumer never receives a window
that is not in Postgres yet.  Publishing is an outbox: a stored window has `published_at`
null until the broker acknowledged its message, and every pass (after each batch, at start,
and every few seconds) publishes the unpublished windows oldest first and marks them.  A
broker that is away therefore costs no audio and stops nothing: windows keep being stored,
and go out in order when it returns.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from ingest.assembler import AudioWindow
from oceanwatch.audio.clips import clip_relpath
from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec, compute_batch
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel, ModelStatus, Spectrogram, Window
from oceanwatch.kafka import Publisher
from oceanwatch.messages import PackedArray, WindowMessage
from oceanwatch.registry.store import mark_unhealthy

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
        rows = session.execute(
            select(MLModel.id, MLModel.healthy, MLModel.feature_spec)
            .where(MLModel.status == ModelStatus.ACTIVE)
            .order_by(MLModel.id)
        ).all()
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
            with session_scope(self.url) as session:
                mark_unhealthy(session, model_id, reason)


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


def last_window_start(url: str, hydrophone_id: str) -> float | None:
    """Start (epoch s) of the hydrophone's latest stored window, where a restarted live source resumes."""
    with session_scope(url) as session:
        latest = session.scalar(select(func.max(Window.start_time)).where(Window.hydrophone_id == hydrophone_id))
    return latest.timestamp() if latest is not None else None


class WindowWriter:
    """Writes batches of windows to Postgres and clips to disk, and publishes them through the outbox."""

    def __init__(
        self,
        url: str,
        publisher: Publisher,
        topic: str,
        clips_dir: Path | None,
        outbox_batch: int = 64,
        retry_s: float = 5.0,
    ) -> None:
        self.url = url
        self.publisher = publisher
        self.topic = topic
        self.clips_dir = clips_dir
        self.outbox_batch = outbox_batch
        self.retry_s = retry_s  # after a failed pass, batches do not wait on the broker again before this
        self._clip_pool = ThreadPoolExecutor(2, "ingest-clips")  # FLAC encoding releases the GIL
        self._outbox_lock = threading.Lock()
        self._failed_at: float | None = None
        self.published = 0  # windows the broker acknowledged, by every outbox pass of this writer
        self._stop = threading.Event()
        self._wake = threading.Event()  # a batch was committed: the outbox thread's next pass is due now
        self._thread: threading.Thread | None = None

    def write(
        self, windows: list[AudioWindow], features: dict[str, np.ndarray], republish_existing: bool = False
    ) -> WriteResult:
        """Store the windows not stored yet (with spectrograms and clips), commit, then run the outbox.

        `republish_existing` puts windows that were already stored back into the outbox (a file
        whose earlier ingest was interrupted is resumed that way; the predict stream is
        idempotent, a repeat costs nothing), with the features they lacked.
        """
        result = WriteResult()
        if not windows:
            return result
        rows = [
            {
                "hydrophone_id": w.hydrophone_id,
                "audio_file_id": w.audio_file_id,
                "start_time": dt.datetime.fromtimestamp(w.start, tz=dt.timezone.utc),
                "end_time": dt.datetime.fromtimestamp(w.start + w.seconds, tz=dt.timezone.utc),
                "sample_rate": w.sample_rate,
                "channels": w.channels,
                "rms_db": rms_db(w.audio),
                "source": w.source,
                "clip_path": clip_relpath(w.hydrophone_id, w.start) if self.clips_dir is not None else None,
            }
            for w in windows
        ]
        keys = [(row["hydrophone_id"], row["start_time"]) for row in rows]
        with session_scope(self.url) as session:
            inserted = session.execute(
                insert(Window)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["hydrophone_id", "start_time"])
                .returning(Window.id, Window.hydrophone_id, Window.start_time)
            ).all()
            ids = {(r.hydrophone_id, r.start_time): r.id for r in inserted}
            new = [(i, ids[key]) for i, key in enumerate(keys) if key in ids]
            result.existing = len(windows) - len(new)
            clips = (
                [self._clip_pool.submit(write_clip, self.clips_dir, windows[i]) for i, _ in new]
                if self.clips_dir is not None
                else []
            )
            stored = list(new)
            if republish_existing and result.existing:
                old = session.execute(
                    select(Window.id, Window.hydrophone_id, Window.start_time).where(
                        Window.hydrophone_id == windows[0].hydrophone_id,
                        Window.start_time.in_([key[1] for key in keys if key not in ids]),
                    )
                ).all()
                found = {(r.hydrophone_id, r.start_time): r.id for r in old}
                again = [(i, found[key]) for i, key in enumerate(keys) if key in found]
                session.execute(
                    update(Window).where(Window.id.in_([wid for _, wid in again])).values(published_at=None)
                )
                stored += again
            spec_rows = [
                {"window_id": wid, "spec_hash": h, "dtype": p.dtype, "shape": list(p.shape), "data": p.data}
                for h, f in features.items()
                for i, wid in stored
                for p in [PackedArray.pack(f[i])]
            ]
            if spec_rows:  # existing windows gain the specs they lack; what they have stays
                session.execute(insert(Spectrogram).values(spec_rows).on_conflict_do_nothing())
            for done in clips:
                done.result()  # a clip that cannot be written fails the batch before anything is committed
        result.stored = len(new)
        # Committed first, so a consumer never sees a message whose window it cannot find.  With an
        # outbox thread, only that thread waits on the broker: a broker that hangs (not refuses) would
        # otherwise hold this batch, and the reading of audio behind it, for minutes.
        if self._thread is not None:
            self._wake.set()
        elif self._failed_at is None or time.monotonic() - self._failed_at >= self.retry_s:
            self.publish_pending(wait=False)
        return result

    def publish_pending(self, wait: bool = True) -> int:
        """One outbox pass: publish unpublished windows oldest first, mark what the broker acknowledged.

        Rows are locked (`skip locked`) while they are sent, so two ingest processes never send the
        same window.  A pass stops at the first batch the broker did not fully acknowledge; the
        rest waits for the next pass.  With `wait` False, a pass already running in this process
        (which sends what is pending anyway) makes this one return at once.  Returns how many
        windows were published.
        """
        if not self._outbox_lock.acquire(blocking=wait):
            return 0
        try:
            return self._outbox_pass()
        finally:
            self._outbox_lock.release()

    def _outbox_pass(self) -> int:
        published = 0
        while True:
            with session_scope(self.url) as session:
                windows = list(
                    session.scalars(
                        select(Window)
                        .where(Window.published_at.is_(None))
                        .order_by(Window.id)
                        .limit(self.outbox_batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                if not windows:
                    self._failed_at = None
                    return published
                specs: dict[int, dict[str, PackedArray]] = {}
                for spec in session.scalars(
                    select(Spectrogram).where(Spectrogram.window_id.in_([w.id for w in windows]))
                ):
                    specs.setdefault(spec.window_id, {})[spec.spec_hash] = PackedArray(
                        spec.dtype, tuple(spec.shape), spec.data
                    )
                acked = self.publisher.send_batch(
                    self.topic,
                    [
                        (w.hydrophone_id.encode(), WindowMessage.from_stored(w, specs.get(w.id, {})).encode())
                        for w in windows
                    ],
                )
                done = [w.id for w, ok in zip(windows, acked) if ok]
                if done:
                    session.execute(update(Window).where(Window.id.in_(done)).values(published_at=func.now()))
                published += len(done)
            self.published += len(done)
            if len(done) < len(windows):
                log.warning("outbox: %d windows wait for the broker", len(windows) - len(done))
                self._failed_at = time.monotonic()
                return published
            if len(windows) < self.outbox_batch:
                self._failed_at = None
                return published

    def start_outbox(self, every_s: float) -> None:
        """Publish from a thread: a pass now, after every committed batch, and every `every_s` (so
        windows stored while the broker was away go out when it returns even if no new batch
        comes).  After a failed pass the next waits `every_s`, not for the next batch."""

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.clear()  # a batch committed during the pass wakes the next one
                try:
                    self.publish_pending()
                except Exception:  # a database hiccup must not end the outbox; the next pass retries
                    log.exception("outbox pass failed")
                (self._wake if self._failed_at is None else self._stop).wait(every_s)

        self._thread = threading.Thread(target=loop, name="ingest-outbox", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the outbox thread, then make one last pass unless the broker was failing: the batch
        committed just before a clean stop goes out now, not at the next run.  What the broker does not
        take stays in the outbox for the next run."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._failed_at is None:
            try:
                self.publish_pending()
            except Exception:  # the outbox keeps it: the next run publishes it
                log.exception("last outbox pass failed")
