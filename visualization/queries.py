"""What the live dashboard reads from Postgres, as plain rows (no Bokeh here).

Every query takes a SQLAlchemy session and bounds: either "rows after the last id I have"
(live streaming) or a time range (looking back), so a tick reads only what is new.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec
from oceanwatch.db.models import (
    AISPosition,
    MLModel,
    Prediction,
    ShipClass,
    Spectrogram,
    TruthLabel,
    Vessel,
    Window,
    vessel_classes,
)
from oceanwatch.inference.outputs import window_outputs
from oceanwatch.messages import PackedArray
from oceanwatch.truth.labels import window_truths

log = logging.getLogger(__name__)


def class_colors(session: Session) -> dict[str, str]:
    return dict(session.execute(select(ShipClass.code, ShipClass.color)).all())


def latest_window_time(session: Session, hydrophone_id: str) -> dt.datetime | None:
    """The end of the site's newest window (one probe of the (hydrophone_id, start_time) index, not a scan)."""
    return session.scalar(
        select(Window.end_time).where(Window.hydrophone_id == hydrophone_id).order_by(Window.start_time.desc()).limit(1)
    )


def _window_range(
    hydrophone_id: str, after_window_id: int | None, start: dt.datetime | None, end: dt.datetime | None
) -> list[Any]:
    """Conditions picking a hydrophone's windows newer than an id and/or starting within [start, end]."""
    conditions: list[Any] = [Window.hydrophone_id == hydrophone_id]
    if after_window_id is not None:
        conditions.append(Window.id > after_window_id)
    if start is not None:
        conditions.append(Window.start_time >= start)
    if end is not None:
        conditions.append(Window.start_time <= end)
    return conditions


def spectrogram_rows(
    session: Session,
    hydrophone_id: str,
    *,
    after_window_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 120,
    bucket_s: float | None = None,
) -> list[dict[str, Any]]:
    """Windows with their spectrogram as a (mels, frames) float32 image, oldest first.

    A window may have spectrograms of several feature specs; one is shown (the first by spec hash).
    With `bucket_s`, only the first window of each bucket of that many seconds is read, and its `start`
    and `end` are the bucket's: a day on a screen a few hundred pixels wide needs a tile per bucket,
    not 3,840 windows' images.
    """
    conditions = _window_range(hydrophone_id, after_window_id, start, end)
    columns = (
        Window.id,
        Window.start_time,
        Window.end_time,
        Window.clip_path,
        Spectrogram.spec_hash,
        Spectrogram.dtype,
        Spectrogram.shape,
        Spectrogram.data,
    )
    query = select(*columns).join(Spectrogram, Spectrogram.window_id == Window.id).where(and_(*conditions))
    if bucket_s is None:
        query = query.ext(distinct_on(Window.start_time, Window.id)).order_by(
            Window.start_time.desc(), Window.id, Spectrogram.spec_hash
        )
    else:
        bucket = _bucket(bucket_s)
        query = (
            query.add_columns(bucket.label("bucket"))
            .ext(distinct_on(bucket))
            .order_by(bucket.desc(), Window.start_time, Spectrogram.spec_hash)
        )
    rows = session.execute(query.limit(limit)).all()
    specs = feature_specs(session, {r.spec_hash for r in rows})
    unknown = {r.spec_hash for r in rows} - set(specs)
    if unknown:
        log.warning("spectrograms of unknown feature specs %s are not shown (no model has them)", sorted(unknown))
    return [
        {
            "window_id": r.id,
            **({"start": r.start_time, "end": r.end_time} if bucket_s is None else _bucket_times(r.bucket, bucket_s)),
            "clip": r.clip_path is not None,
            "spec": specs[r.spec_hash],
            "image": spectrogram_image(PackedArray(r.dtype, tuple(r.shape), r.data)),
        }
        for r in reversed(rows)
        if r.spec_hash in specs
    ]


def feature_specs(session: Session, hashes: set[str]) -> dict[str, FeatureSpec]:
    """The feature spec of each hash: ingest computes spectrograms for the specs of registered models
    (never deleted) or, with none deployed, for DEFAULT_SPEC, so every stored hash has one."""
    known = {DEFAULT_SPEC.hash: DEFAULT_SPEC}
    if not hashes - set(known):
        return known
    rows = session.execute(
        select(MLModel.feature_spec_hash, MLModel.feature_spec)
        .where(MLModel.feature_spec_hash.in_(sorted(hashes)))
        .ext(distinct_on(MLModel.feature_spec_hash))
        .order_by(MLModel.feature_spec_hash)
    ).all()
    return known | {r.feature_spec_hash: FeatureSpec.from_dict(r.feature_spec) for r in rows}


def _bucket(seconds: float, time: Any = Window.start_time) -> Any:
    """The number of the `seconds`-long bucket since the epoch that `time` (a window's start) falls in."""
    return func.floor(func.extract("epoch", time) / seconds)


def _bucket_times(bucket: float, seconds: float) -> dict[str, dt.datetime]:
    start = dt.datetime.fromtimestamp(float(bucket) * seconds, dt.timezone.utc)
    return {"start": start, "end": start + dt.timedelta(seconds=seconds)}


def spectrogram_image(packed: PackedArray) -> np.ndarray:
    """(frames, mels[, channels]) features -> a (mels, frames) float32 image (Bokeh has no float16)."""
    array = packed.unpack().astype(np.float32)
    if array.ndim == 3:
        array = array.mean(axis=2)
    return np.ascontiguousarray(array.T)


def prediction_rows(
    session: Session,
    model_ids: list[int],
    hydrophone_id: str,
    *,
    after_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 5000,
) -> list[dict[str, Any]]:
    """Predictions of the given models with their window's times, oldest first."""
    if not model_ids:
        return []
    conditions = [Prediction.model_id.in_(model_ids), Window.hydrophone_id == hydrophone_id]
    if after_id is not None:
        conditions.append(Prediction.id > after_id)
    if start is not None:
        conditions.append(Window.start_time >= start)
    if end is not None:
        conditions.append(Window.start_time <= end)
    query = (
        select(
            Prediction.id,
            Prediction.model_id,
            Prediction.window_id,
            Prediction.predicted,
            Prediction.confidence,
            Prediction.entropy,
            Prediction.epistemic,
            Prediction.aleatoric,
            Window.start_time,
            Window.end_time,
        )
        .join(Window, Window.id == Prediction.window_id)
        .where(and_(*conditions))
        .order_by(Window.start_time.desc(), Prediction.id.desc())
        .limit(limit)
    )
    rows = session.execute(query).all()
    return [
        {
            "id": r.id,
            "model_id": r.model_id,
            "window_id": r.window_id,
            "predicted": list(r.predicted),
            "confidence": r.confidence,
            "entropy": r.entropy,
            "epistemic": r.epistemic,
            "aleatoric": r.aleatoric,
            "start": r.start_time,
            "end": r.end_time,
        }
        for r in reversed(rows)
    ]


def prediction_buckets(
    session: Session,
    model_ids: list[int],
    hydrophone_id: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    bucket_s: float,
) -> list[dict[str, Any]]:
    """`prediction_rows` summarised per model per bucket of `bucket_s` seconds, oldest first: the most
    frequent top class, mean confidence and uncertainty; `id` is the bucket's newest prediction (so
    streaming goes on after it) and `window_id` its first window (what a tap selects)."""
    if not model_ids:
        return []
    bucket = _bucket(bucket_s).label("bucket")
    query = (
        select(
            Prediction.model_id,
            bucket,
            func.max(Prediction.id).label("id"),
            func.min(Prediction.window_id).label("window_id"),
            func.mode().within_group(Prediction.predicted[1]).label("top"),
            func.avg(Prediction.confidence).label("confidence"),
            func.avg(Prediction.entropy).label("entropy"),
            func.avg(Prediction.epistemic).label("epistemic"),
            func.avg(Prediction.aleatoric).label("aleatoric"),
        )
        .join(Window, Window.id == Prediction.window_id)
        .where(
            Prediction.model_id.in_(model_ids),
            Window.hydrophone_id == hydrophone_id,
            Window.start_time >= start,
            Window.start_time <= end,
        )
        .group_by(Prediction.model_id, bucket)
        .order_by(bucket, Prediction.model_id)
    )
    return [
        {
            "id": r.id,
            "model_id": r.model_id,
            "window_id": r.window_id,
            "predicted": [r.top] if r.top else [],
            "confidence": float(r.confidence),
            **{
                m: None if getattr(r, m) is None else float(getattr(r, m))
                for m in ("entropy", "epistemic", "aleatoric")
            },
            **_bucket_times(r.bucket, bucket_s),
        }
        for r in session.execute(query).all()
    ]


def database_now(session: Session) -> dt.datetime:
    """The database's clock: truth rows are stamped by it, so "revised since" is measured by it too."""
    return session.scalar(select(func.now()))


def truth_rows(
    session: Session,
    hydrophone_id: str,
    radius_km: int,
    *,
    after_window_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    computed_after: dt.datetime | None = None,
    limit: int = 5000,
) -> list[dict[str, Any]]:
    """Windows with their AIS truth at `radius_km` (None: not labelled yet), oldest first.

    `computed_after` keeps only windows whose truth was (re)computed since then: truth arrives
    after its window (the labeller waits for the AIS) and is revised by late AIS and mapping edits.
    """
    conditions = _window_range(hydrophone_id, after_window_id, start, end)
    query = select(Window.id, Window.start_time, Window.end_time)
    if computed_after is not None:
        query = query.join(TruthLabel, and_(TruthLabel.window_id == Window.id, TruthLabel.radius_km == radius_km))
        conditions.append(TruthLabel.computed_at > computed_after)
    rows = session.execute(
        query.where(and_(*conditions)).order_by(Window.start_time.desc(), Window.id).limit(limit)
    ).all()
    truths = window_truths(session, [r.id for r in rows], radius_km)
    return [
        {
            "window_id": r.id,
            "start": r.start_time,
            "end": r.end_time,
            "truth": truths[r.id][0] if r.id in truths else None,
        }
        for r in reversed(rows)
    ]


def vessel_positions(session: Session, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Each vessel's last position in [start, end] with its class (override, else ship-type mapping),
    course, heading and type, and its track over [start, end] (a point per `TRACK_STEP_S` at most)."""
    last = (
        select(
            AISPosition.mmsi,
            AISPosition.time,
            AISPosition.latitude,
            AISPosition.longitude,
            AISPosition.sog_knots,
            AISPosition.cog_deg,
            AISPosition.heading_deg,
        )
        .where(AISPosition.time >= start, AISPosition.time <= end)
        .ext(distinct_on(AISPosition.mmsi))
        .order_by(AISPosition.mmsi, AISPosition.time.desc())
        .subquery()
    )
    query = (
        select(last, Vessel.name, Vessel.ship_type, Vessel.ship_type_text, vessel_classes.c.class_code)
        .join(Vessel, Vessel.mmsi == last.c.mmsi)
        .join(vessel_classes, vessel_classes.c.mmsi == last.c.mmsi)
    )
    tracks = vessel_tracks(session, start, end)
    return [
        {
            "mmsi": r.mmsi,
            "time": r.time,
            "lat": r.latitude,
            "lon": r.longitude,
            "sog": r.sog_knots,
            "cog": r.cog_deg,
            "heading": r.heading_deg,
            "name": r.name or "",
            "ship_type": r.ship_type,
            "ship_type_text": r.ship_type_text or "",
            "class_code": r.class_code or "unknown",
            "track": tracks.get(r.mmsi, ([], [])),
        }
        for r in session.execute(query).all()
    ]


TRACK_STEP_S = 30


def vessel_tracks(session: Session, start: dt.datetime, end: dt.datetime) -> dict[int, tuple[list[float], list[float]]]:
    """(lons, lats) of each vessel's positions in [start, end], oldest first, the first of every
    `TRACK_STEP_S` seconds (AIS reports every few seconds; a map a few hundred pixels wide needs less)."""
    step = _bucket(TRACK_STEP_S, AISPosition.time)
    rows = session.execute(
        select(AISPosition.mmsi, AISPosition.longitude, AISPosition.latitude)
        .where(AISPosition.time >= start, AISPosition.time <= end)
        .ext(distinct_on(AISPosition.mmsi, step))
        .order_by(AISPosition.mmsi, step, AISPosition.time)
    ).all()
    tracks: dict[int, tuple[list[float], list[float]]] = {}
    for mmsi, lon, lat in rows:
        lons, lats = tracks.setdefault(mmsi, ([], []))
        lons.append(lon)
        lats.append(lat)
    return tracks


def window_details(session: Session, window_id: int, radius_km: int) -> dict[str, Any] | None:
    """One window as the live page's details show it: times, clip, AIS truth at `radius_km` (None: not
    labelled yet) and every model's output; None if the window is gone."""
    window = session.get(Window, window_id)
    if window is None:
        return None
    truths = window_truths(session, [window_id], radius_km).get(window_id)
    return {
        "window_id": window.id,
        "start": window.start_time,
        "end": window.end_time,
        "clip": window.clip_path is not None,
        "radius_km": radius_km,
        "truth": truths[0] if truths else None,
        "outputs": window_outputs(session, [window_id]).get(window_id, []),
    }
