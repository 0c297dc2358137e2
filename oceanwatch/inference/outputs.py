"""Every model's stored output for some windows, as people read it (the review pages, the live page's
window details): probabilities by class, the predicted classes and the uncertainty, per model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oceanwatch.db.models import MLModel, Prediction
from oceanwatch.registry.active import model_label


def window_outputs(session: Session, window_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """By window, each model's prediction (active or not: what it said then), in model order."""
    if not window_ids:
        return {}
    rows = session.execute(
        select(Prediction, MLModel.name, MLModel.version, MLModel.class_names, MLModel.status)
        .join(MLModel, MLModel.id == Prediction.model_id)
        .where(Prediction.window_id.in_(list(window_ids)))
        .order_by(Prediction.model_id)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for p, name, version, classes, status in rows:
        out.setdefault(p.window_id, []).append(
            {
                "prediction_id": p.id,
                "model_id": p.model_id,
                "model": model_label(name, version),
                "status": status,
                "class_names": list(classes),
                "probabilities": [float(x) for x in p.probabilities],
                "predicted": list(p.predicted),
                "confidence": p.confidence,
                "entropy": p.entropy,
                "epistemic": p.epistemic,
                "aleatoric": p.aleatoric,
            }
        )
    return out
