"""Turning model outputs into prediction rows and storing them idempotently.

Shared by the live worker and backfill jobs: both insert with ON CONFLICT (window_id,
model_id) DO NOTHING, so a replayed batch or an overlapping backfill never duplicates a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, exists, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from oceanwatch.db.models import MLModel, Prediction, Window
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.inference.uncertainty import Uncertainty


def lacks_prediction(model_id: int) -> ColumnElement[bool]:
    """Windows the model has no prediction for (one lookup on the unique (window, model) key each)."""
    return ~exists().where(and_(Prediction.window_id == Window.id, Prediction.model_id == model_id))


def prediction_rows(
    model: LoadedModel, window_ids: Sequence[int], u: Uncertainty, latency_ms: Sequence[float | None] | None = None
) -> list[dict[str, Any]]:
    """One row per window; epistemic/aleatoric only exist with several stochastic passes."""
    classes = model.manifest.class_names
    stochastic = model.manifest.passes > 1
    rows = []
    for i, window_id in enumerate(window_ids):
        rows.append(
            {
                "window_id": int(window_id),
                "model_id": model.model_id,
                "probabilities": [float(p) for p in u.mean[i]],
                "predicted": [classes[j] for j in u.predicted[i]],
                "confidence": float(u.confidence[i]),
                "entropy": float(u.entropy[i]),
                "epistemic": float(u.epistemic[i]) if stochastic else None,
                "aleatoric": float(u.aleatoric[i]) if stochastic else None,
                "latency_ms": None if latency_ms is None else latency_ms[i],
            }
        )
    return rows


def store_predictions(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert rows in the caller's transaction, skipping (window, model) pairs already stored; returns the rows
    actually inserted (what the caller publishes once it has committed)."""
    if not rows:
        return []
    inserted = set(
        session.execute(
            insert(Prediction)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["window_id", "model_id"])
            .returning(Prediction.window_id, Prediction.model_id)
        ).all()
    )
    for model_id in {r["model_id"] for r in rows}:
        session.execute(update(MLModel).where(MLModel.id == model_id).values(last_prediction_at=func.now()))
    return [r for r in rows if (r["window_id"], r["model_id"]) in inserted]


def stack_features(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Features as one float32 batch (they travel and are stored as float16); `arrays` is non-empty."""
    return np.stack([np.asarray(a, dtype=np.float32) for a in arrays])


def utcnow_ms() -> float:
    return dt.datetime.now(dt.timezone.utc).timestamp() * 1000.0
