"""/api/v1 listings of what the live page shows: audio windows, predictions, vessels and AIS positions,
each over a time range (`app.api.args.time_range`)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy import and_, select

from app.api.args import int_arg, iso, time_range
from app.api.routes import TIME_PARAMS, Routes, param
from app.web.extensions import db
from oceanwatch.db.models import AISPosition, Prediction, Vessel, Window

routes = Routes()


@routes.route(
    "/windows",
    "GET",
    "viewer",
    "Audio windows in a time range",
    parameters=[*TIME_PARAMS, param("hydrophone_id", "query", "hydrophone", {"type": "string"})],
    responses={"400": "bad parameter"},
)
def windows() -> Any:
    start, end, limit = time_range()
    conditions = [Window.start_time >= start, Window.start_time <= end]
    if request.args.get("hydrophone_id"):
        conditions.append(Window.hydrophone_id == request.args["hydrophone_id"])
    rows = db.session.scalars(select(Window).where(and_(*conditions)).order_by(Window.start_time).limit(limit))
    return jsonify(
        windows=[
            {
                "id": w.id,
                "hydrophone_id": w.hydrophone_id,
                "start_time": iso(w.start_time),
                "end_time": iso(w.end_time),
                "sample_rate": w.sample_rate,
                "rms_db": w.rms_db,
                "has_clip": w.clip_path is not None,
                "source": w.source,
            }
            for w in rows
        ]
    )


@routes.route(
    "/predictions",
    "GET",
    "viewer",
    "Predictions for windows in a time range",
    parameters=[*TIME_PARAMS, param("model_id", "query", "only this model", {"type": "integer"})],
    responses={"400": "bad parameter"},
)
def predictions() -> Any:
    start, end, limit = time_range()
    conditions = [Window.start_time >= start, Window.start_time <= end]
    model_id = int_arg("model_id")
    if model_id is not None:
        conditions.append(Prediction.model_id == model_id)
    rows = db.session.execute(
        select(Prediction, Window.start_time, Window.end_time)
        .join(Window, Window.id == Prediction.window_id)
        .where(and_(*conditions))
        .order_by(Window.start_time, Prediction.model_id)
        .limit(limit)
    )
    return jsonify(
        predictions=[
            {
                "id": p.id,
                "window_id": p.window_id,
                "model_id": p.model_id,
                "start_time": iso(s),
                "end_time": iso(e),
                "predicted": list(p.predicted),
                "probabilities": [float(x) for x in p.probabilities],
                "confidence": p.confidence,
                "entropy": p.entropy,
                "epistemic": p.epistemic,
                "aleatoric": p.aleatoric,
            }
            for p, s, e in rows
        ]
    )


@routes.route(
    "/vessels",
    "GET",
    "viewer",
    "Vessels (AIS static data)",
    parameters=[TIME_PARAMS[2]],
    responses={"400": "bad parameter"},
)
def vessels() -> Any:
    _, _, limit = time_range()
    rows = db.session.scalars(select(Vessel).order_by(Vessel.last_seen.desc()).limit(limit))
    return jsonify(
        vessels=[
            {
                "mmsi": v.mmsi,
                "name": v.name,
                "call_sign": v.call_sign,
                "ship_type": v.ship_type,
                "ship_type_text": v.ship_type_text,
                "length_m": v.length_m,
                "first_seen": iso(v.first_seen),
                "last_seen": iso(v.last_seen),
            }
            for v in rows
        ]
    )


@routes.route(
    "/positions",
    "GET",
    "viewer",
    "AIS positions in a time range",
    parameters=[*TIME_PARAMS, param("mmsi", "query", "only this vessel", {"type": "integer"})],
    responses={"400": "bad parameter"},
)
def positions() -> Any:
    start, end, limit = time_range()
    conditions = [AISPosition.time >= start, AISPosition.time <= end]
    mmsi = int_arg("mmsi")
    if mmsi is not None:
        conditions.append(AISPosition.mmsi == mmsi)
    rows = db.session.scalars(select(AISPosition).where(and_(*conditions)).order_by(AISPosition.time).limit(limit))
    return jsonify(
        positions=[
            {
                "mmsi": p.mmsi,
                "time": iso(p.time),
                "latitude": p.latitude,
                "longitude": p.longitude,
                "sog_knots": p.sog_knots,
                "cog_deg": p.cog_deg,
                "heading_deg": p.heading_deg,
            }
            for p in rows
        ]
    )
