"""The system of record: every table of the platform, as SQLAlchemy 2.0 typed models.

Postgres holds the truth; Kafka only carries it between services.  Unique keys make
every consumer write idempotent (a replayed message updates nothing twice), which is
what lets consumers commit offsets after the database write and replay after a crash.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import column, table

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base; constraint names are deterministic so migrations can refer to them.

    Relationships are deliberately not declared: services query with explicit joins, so
    no lazy load hides a query inside a hot loop.
    """

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class ModelStatus(StrEnum):
    """A model version's deployment state: registered (never deployed), active (predicting), inactive."""

    REGISTERED = "registered"
    ACTIVE = "active"
    INACTIVE = "inactive"


class JobStatus(StrEnum):
    """A background job's state; queued and running are the unfinished ones."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class BackupStatus(StrEnum):
    """A backup run's state."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _one_of(column: str, values: type[StrEnum]) -> str:
    """A CHECK expression allowing exactly an enum's values, so the database and the code share one list."""
    return f"{column} in ({','.join(repr(v.value) for v in values)})"


def _now() -> Any:
    return mapped_column(Timestamp, server_default=func.now(), nullable=False)


class Hydrophone(Base):
    """A site: a sensor at a fixed position, with its audio source; truth is computed relative to it.

    Managed on the Sites page and API (`oceanwatch.sites`); `source` is an `oceanwatch.sites.spec.AudioSource`
    as JSON, or None for the INGEST_* settings; only active sites are ingested.
    """

    __tablename__ = "hydrophones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    depth_m: Mapped[float | None] = mapped_column(Float)
    channels: Mapped[int] = mapped_column(SmallInteger, default=1)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    sensitivity_db: Mapped[float | None] = mapped_column(Float)  # dB re 1 V/uPa
    source: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # None: the INGEST_* settings
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class AudioFile(Base):
    """A recording that was ingested (or quarantined, with the reason)."""

    __tablename__ = "audio_files"
    __table_args__ = (UniqueConstraint("hydrophone_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hydrophone_id: Mapped[str] = mapped_column(ForeignKey("hydrophones.id"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(SmallInteger)
    subtype: Mapped[str | None] = mapped_column(String(32))
    start_time: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    duration_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="ingesting")
    error: Mapped[str | None] = mapped_column(Text)
    windows_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = _now()


class Window(Base):
    """A fixed-length slice of one hydrophone's audio: the unit every model predicts on."""

    __tablename__ = "windows"
    __table_args__ = (
        UniqueConstraint("hydrophone_id", "start_time"),
        Index("ix_windows_start_time", "start_time"),
        Index("ix_windows_unpublished", "id", postgresql_where=text("published_at is null")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hydrophone_id: Mapped[str] = mapped_column(ForeignKey("hydrophones.id"))
    audio_file_id: Mapped[int | None] = mapped_column(ForeignKey("audio_files.id", ondelete="SET NULL"))
    start_time: Mapped[dt.datetime] = mapped_column(Timestamp)
    end_time: Mapped[dt.datetime] = mapped_column(Timestamp)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(SmallInteger)
    rms_db: Mapped[float | None] = mapped_column(Float)
    clip_path: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32), default="file")
    created_at: Mapped[dt.datetime] = _now()
    # Set once the broker acknowledged the window's message; null = still in the outbox (ingest/store.py).
    published_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Spectrogram(Base):
    """A window's features for one feature spec, stored compactly (bytes + dtype + shape)."""

    __tablename__ = "spectrograms"

    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True)
    spec_hash: Mapped[str] = mapped_column(String(16), primary_key=True)
    dtype: Mapped[str] = mapped_column(String(16))
    shape: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Vessel(Base):
    """Static AIS data of one ship, keyed by MMSI."""

    __tablename__ = "vessels"

    mmsi: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(String(64))
    call_sign: Mapped[str | None] = mapped_column(String(16))
    imo: Mapped[int | None] = mapped_column(BigInteger)
    ship_type: Mapped[int | None] = mapped_column(SmallInteger)
    ship_type_text: Mapped[str | None] = mapped_column(String(64))
    length_m: Mapped[float | None] = mapped_column(Float)
    beam_m: Mapped[float | None] = mapped_column(Float)
    draught_m: Mapped[float | None] = mapped_column(Float)
    tonnage: Mapped[float | None] = mapped_column(Float)
    destination: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[dt.datetime] = _now()
    last_seen: Mapped[dt.datetime] = _now()


class AISPosition(Base):
    """One position report; (mmsi, time) is unique so a repeated report is stored once."""

    __tablename__ = "ais_positions"
    __table_args__ = (
        UniqueConstraint("mmsi", "time"),
        Index("ix_ais_positions_time", "time"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mmsi: Mapped[int] = mapped_column(ForeignKey("vessels.mmsi"))
    time: Mapped[dt.datetime] = mapped_column(Timestamp)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    sog_knots: Mapped[float | None] = mapped_column(Float)
    cog_deg: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    nav_status: Mapped[int | None] = mapped_column(SmallInteger)
    msg_type: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = _now()


class PositionRange(Base):
    """Geodesic distance and bearing of a position from each hydrophone (what truth queries scan)."""

    __tablename__ = "position_ranges"
    __table_args__ = (Index("ix_position_ranges_hydrophone_time", "hydrophone_id", "time"),)

    position_id: Mapped[int] = mapped_column(ForeignKey("ais_positions.id", ondelete="CASCADE"), primary_key=True)
    hydrophone_id: Mapped[str] = mapped_column(ForeignKey("hydrophones.id"), primary_key=True)
    mmsi: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[dt.datetime] = mapped_column(Timestamp)
    distance_m: Mapped[float] = mapped_column(Float)
    bearing_deg: Mapped[float] = mapped_column(Float)


class ShipClass(Base):
    """A class a model can predict (A-E by default); data, not code."""

    __tablename__ = "ship_classes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_background: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(SmallInteger, default=0)
    color: Mapped[str] = mapped_column(String(16), default="#888888")


class ClassMapping(Base):
    """Maps one AIS ship-type code (0-99) to a class; editable, which is how relabelling works."""

    __tablename__ = "class_mappings"
    __table_args__ = (CheckConstraint("ship_type between 0 and 99", name="ship_type_range"),)

    ship_type: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    designation: Mapped[str] = mapped_column(String(100))
    class_code: Mapped[str | None] = mapped_column(ForeignKey("ship_classes.code", onupdate="CASCADE"))
    updated_at: Mapped[dt.datetime] = _now()
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class VesselClassOverride(Base):
    """A per-vessel class that wins over the ship-type mapping."""

    __tablename__ = "vessel_class_overrides"

    mmsi: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    class_code: Mapped[str] = mapped_column(ForeignKey("ship_classes.code", onupdate="CASCADE"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class User(Base):
    """An account; role is viewer, operator or admin."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role in ('viewer','operator','admin')", name="role_valid"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of every login session and Bokeh grant; bumping it (logout, deactivation) revokes them all.
    session_version: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    created_at: Mapped[dt.datetime] = _now()
    last_login: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class ApiToken(Base):
    """One of a user's named API tokens; only its SHA-256 is kept.  A 'read' token may only read the API;
    an expired or revoked one is refused.  last_used_at is refreshed at most once a minute."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scope in ('read','write')", name="scope_valid"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[str] = mapped_column(String(8), default="write")
    created_at: Mapped[dt.datetime] = _now()
    expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class MLModel(Base):
    """A registered model version: artifact, manifest fields, deployment state and health."""

    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        CheckConstraint("task in ('multi_class','multi_label')", name="task_valid"),
        CheckConstraint(_one_of("status", ModelStatus), name="status_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    task: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="keras")
    class_names: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    feature_spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    feature_spec_hash: Mapped[str] = mapped_column(String(16))
    uncertainty_method: Mapped[str] = mapped_column(String(16), default="none")
    mc_passes: Mapped[int] = mapped_column(SmallInteger, default=1)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(100), default="")
    artifact_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default=ModelStatus.REGISTERED)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_prediction_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()
    deployed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Prediction(Base):
    """One model's output for one window, with its uncertainty; unique per (window, model)."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("window_id", "model_id"),
        Index("ix_predictions_model_window", "model_id", "window_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    probabilities: Mapped[list[float]] = mapped_column(ARRAY(REAL))
    predicted: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    confidence: Mapped[float] = mapped_column(Float)
    entropy: Mapped[float | None] = mapped_column(Float)
    epistemic: Mapped[float | None] = mapped_column(Float)
    aleatoric: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = _now()


class TruthLabel(Base):
    """AIS truth for a window at one radius: the set of classes present, or ambiguous.

    `vessels` (inside R) and `buffer_vessels` are geometry; `classes` and `ambiguous` are
    derived from them through the class mapping, so a mapping change re-derives only those.
    """

    __tablename__ = "truth_labels"
    __table_args__ = (Index("ix_truth_labels_vessels", "vessels", postgresql_using="gin"),)

    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True)
    radius_km: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    classes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    vessels: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    buffer_vessels: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    computed_at: Mapped[dt.datetime] = _now()


class ScoreDaily(Base):
    """Multi-class scoring tallies per model, radius, UTC day and hydrophone: what metrics read.

    One row per (truth class, predicted class, confidence decile) with its count and summed
    confidence, so a year of metrics is a sum over a few thousand rows.  Triggers on
    predictions, truth and human labels mark changed days in `score_dirty`; oceanwatch.scoring.scores
    recomputes those days from the raw rows before it reads.
    """

    __tablename__ = "score_daily"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    radius_km: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    hydrophone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    truth: Mapped[str] = mapped_column(String(16), primary_key=True)
    predicted: Mapped[str] = mapped_column(String(16), primary_key=True)
    conf_bin: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)
    conf_sum: Mapped[float] = mapped_column(Float)


class UncertaintyDaily(Base):
    """Per model, radius, UTC day and hydrophone: errors and correct predictions per uncertainty bin.

    100 equal bins over [0, 1] for each measure (entropy, epistemic, aleatoric, 1 - confidence),
    so the AUROC with which a measure flags errors is computed from a few thousand rows,
    to within the bin width; kept with `score_daily` by the same dirty-day refresh.
    """

    __tablename__ = "uncertainty_daily"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    radius_km: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    hydrophone_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    measure: Mapped[str] = mapped_column(String(24), primary_key=True)
    bin: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    errors: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)


class ScoreDirty(Base):
    """A UTC day whose predictions or labels changed since `score_daily` was computed for it."""

    __tablename__ = "score_dirty"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.clock_timestamp())


class HumanLabel(Base):
    """A reviewer's label for a window; it overrides AIS truth wherever labels are used."""

    __tablename__ = "human_labels"

    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True)
    classes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = _now()


class PredictionFeedback(Base):
    """A person's verdict on one prediction; one per (prediction, user), so a change of mind updates it."""

    __tablename__ = "prediction_feedback"
    __table_args__ = (
        UniqueConstraint("prediction_id", "user_id"),
        CheckConstraint("verdict in ('correct','wrong')", name="verdict_valid"),
        Index("ix_prediction_feedback_model_id", "model_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(8))
    classes: Mapped[list[str]] = mapped_column(ARRAY(String(16)), server_default="{}")
    created_at: Mapped[dt.datetime] = _now()


class Upload(Base):
    """A clip a person classified and asked to keep, with the results every model gave it."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(SmallInteger)
    results: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = _now()


class AuditLog(Base):
    """Who changed what, when: every state change made by a person or a job."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_time", "time"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    time: Mapped[dt.datetime] = _now()
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Job(Base):
    """A background job (backfill, relabel, training, backup) with progress that pages can poll."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_one_of("status", JobStatus), name="status_valid"),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()
    started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Backup(Base):
    """One backup run: where the dump is, its checksum, and whether it verified."""

    __tablename__ = "backups"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="scheduled")
    status: Mapped[str] = mapped_column(String(16), default=BackupStatus.RUNNING)
    path: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = _now()
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class StorageUsage(Base):
    """Bytes a site's data takes by kind (`oceanwatch.storage.usage`), as the last retention pass measured."""

    __tablename__ = "storage_usage"

    hydrophone_id: Mapped[str] = mapped_column(ForeignKey("hydrophones.id"), primary_key=True)
    measured_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    days: Mapped[float] = mapped_column(Float)  # UTC days with windows: what "per site-day" divides by
    bytes: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ServiceHeartbeat(Base):
    """One running service instance: when it last beat, and a snapshot of its in-process counters.

    Counters that live in a process (AIS rejects by reason, ...) are published here with each
    beat, so `/metrics` in any web worker can sum them across every instance; a dead instance's
    last snapshot stays, which keeps the summed counters from going backwards.
    """

    __tablename__ = "service_heartbeats"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    beat_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    counters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


# The vessel-class rule (override, else ship-type mapping) as one SQL view (migration 0013): the truth
# labeller and the live map read it, so they cannot disagree. A lightweight table, not a mapped class:
# it is not part of the metadata that migrations compare against.
vessel_classes = table("vessel_classes", column("mmsi", BigInteger), column("class_code", String(16)))

__all__ = [
    "AISPosition",
    "AudioFile",
    "AuditLog",
    "Backup",
    "BackupStatus",
    "Base",
    "ClassMapping",
    "HumanLabel",
    "Hydrophone",
    "Job",
    "JobStatus",
    "MLModel",
    "ModelStatus",
    "PositionRange",
    "Prediction",
    "PredictionFeedback",
    "ScoreDaily",
    "ScoreDirty",
    "ServiceHeartbeat",
    "ShipClass",
    "Spectrogram",
    "TruthLabel",
    "UncertaintyDaily",
    "Upload",
    "User",
    "Vessel",
    "VesselClassOverride",
    "Window",
    "vessel_classes",
]
