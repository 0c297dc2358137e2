"""Model outputs for tests that need predictions to exist (scores, review, dashboards) rather than to be
computed: random but realistic, stored through the predict stream's own `store_predictions`."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from oceanwatch.db.models import MLModel
from oceanwatch.inference.predictions import store_predictions


def add_predictions(
    session: Session,
    window_ids: list[int],
    model_id: int,
    rng: np.random.Generator,
    agree_with: dict[int, str] | None = None,
) -> None:
    """One prediction per window over the model's own classes: Dirichlet probabilities, normalised
    entropy, an epistemic share of it; `agree_with` forces a window's predicted class."""
    classes = session.get_one(MLModel, model_id).manifest["class_names"]
    rows = []
    for window_id in window_ids:
        p = rng.dirichlet(np.full(len(classes), 0.7))
        if agree_with and window_id in agree_with:
            p[classes.index(agree_with[window_id])] += 2.0
            p /= p.sum()
        entropy = float(-(p * np.log(p)).sum() / np.log(len(classes)))
        epistemic = float(rng.uniform(0, entropy))
        rows.append(
            {
                "window_id": window_id,
                "model_id": model_id,
                "probabilities": p.tolist(),
                "predicted": [classes[int(p.argmax())]],
                "confidence": float(p.max()),
                "entropy": entropy,
                "epistemic": epistemic,
                "aleatoric": entropy - epistemic,
            }
        )
    store_predictions(session, rows)
