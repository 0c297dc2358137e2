"""Labelled windows for the training tests: the simulator's class examples as stored windows, half
labelled by AIS truth and half by a reviewer (the two label sources training reads)."""

from __future__ import annotations

import numpy as np

from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import HumanLabel, TruthLabel
from oceanwatch.testing.synthetic import store_windows
from oceanwatch.training.simdata import class_examples
from tests.modelkit import CLASSES, TINY_SPEC


def store_labelled(settings: Settings, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Simulator windows in the database: even ones labelled by AIS truth, odd ones by a reviewer."""
    data = class_examples(TINY_SPEC, CLASSES, per_class, seed=seed)
    windows = store_windows(settings, len(data.y), spec=TINY_SPEC, features=data.x)
    with session_scope(settings.database_url) as s:
        for k, (window, y) in enumerate(zip(windows, data.y)):
            label = [CLASSES[int(y)]]
            if k % 2:
                s.add(HumanLabel(window_id=window.window_id, classes=label))
            else:
                s.add(TruthLabel(window_id=window.window_id, radius_km=20, classes=label, ambiguous=False, vessels=[]))
    return data.x, data.y
