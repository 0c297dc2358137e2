"""Small scored data written straight into the database: windows, AIS truth, models and predictions.

Windows are spread over the last `days` days (so the metrics page's default range sees some),
with seeded random truth and predictions that are right more often than chance.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Prediction, TruthLabel, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.sites.store import create_site
from tests.modelkit import registered_model

CLASSES = ["A", "B", "C", "D", "E"]


def scored_world(
    settings: Settings,
    n: int = 80,
    days: float = 12.0,
    models: tuple[str, ...] = ("alpha", "beta"),
    seed: int = 3,
    more_sites: tuple[str, ...] = (),
) -> dict[str, int]:
    """`n` windows with truth at every configured radius and predictions of each model; model name -> id.

    The second model skips every fourth window, so a same-window comparison differs from each report.
    With `more_sites`, those sites are added (as an operator would) and the windows take turns among
    the first site and them.
    """
    url = settings.database_url
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
        for k, site in enumerate(more_sites):
            create_site(session, site, {"name": site, "latitude": 36.7 + 0.1 * k, "longitude": -122.0}, None)
    sites = (settings.hydrophone.id, *more_sites)
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ids = {name: registered_model(settings, name) for name in models}
    with session_scope(url) as s:
        for k in range(n):
            start = now - dt.timedelta(days=days) + dt.timedelta(days=days) * k / n
            w = Window(
                hydrophone_id=sites[k % len(sites)],
                start_time=start,
                end_time=start + dt.timedelta(seconds=22.5),
                sample_rate=4000,
                channels=1,
                source="test",
            )
            s.add(w)
            s.flush()
            truth = [str(rng.choice(CLASSES))] if rng.random() < 0.85 else sorted(rng.choice(CLASSES, 2, False))
            for radius in settings.truth.radii_km:
                s.add(
                    TruthLabel(
                        window_id=w.id, radius_km=radius, classes=truth, ambiguous=bool(rng.random() < 0.1), vessels=[]
                    )
                )
            for i, model_id in enumerate(ids.values()):
                if i == 1 and k % 4 == 0:
                    continue
                p = rng.dirichlet(np.ones(len(CLASSES)) * 0.7)
                if rng.random() < 0.6:
                    p = 0.5 * p + 0.5 * np.eye(len(CLASSES))[CLASSES.index(truth[0])]
                entropy = float(-(p * np.log(p + 1e-12)).sum() / np.log(len(CLASSES)))
                s.add(
                    Prediction(
                        window_id=w.id,
                        model_id=model_id,
                        probabilities=p.astype(np.float32).tolist(),
                        predicted=[CLASSES[int(p.argmax())]],
                        confidence=round(float(p.max()), 4) + 3e-5,
                        entropy=entropy,
                        epistemic=entropy * float(rng.uniform(0.1, 0.5)),
                        aleatoric=entropy * float(rng.uniform(0.5, 0.9)),
                    )
                )
    return ids
