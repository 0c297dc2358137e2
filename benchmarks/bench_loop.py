"""People-in-the-loop benchmark: review-queue ranking in Postgres, and classifying an uploaded clip.

On a scratch database on the stack runner's Postgres: one day of one hydrophone (22.5 s hop,
3840 windows), three active models predicting every window and AIS truth at 20 km, so each
strategy ranks 11520 predictions.  Then a 5-minute 8 kHz WAV through `POST /api/v1/predict`
with two baseline models (160 x 128 input, 10 MC passes): the first call loads the models,
later calls use the web process's cache.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np
import psycopg2
import soundfile
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from benchmarks.common import median_ms, metric
from oceanwatch.access.accounts import create_user, issue_token
from oceanwatch.audio.features import DEFAULT_SPEC
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.models import MLModel, Prediction, TruthLabel, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.registry import store
from oceanwatch.training.baseline import build_baseline, write_package

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CLASSES = list("ABCDE")
WINDOWS = 3840
STRATEGIES = ("entropy", "margin", "epistemic", "disagreement", "truth_disagreement")
CLIP_SECONDS = 300


def _fill(settings: Settings, model_ids: list[int]) -> None:
    rng = np.random.default_rng(0)
    with session_scope(settings.database_url) as session:
        window_ids = session.scalars(
            insert(Window).returning(Window.id),
            [
                {
                    "hydrophone_id": settings.hydrophone.id,
                    "start_time": T0 + dt.timedelta(seconds=22.5 * k),
                    "end_time": T0 + dt.timedelta(seconds=22.5 * k + 30),
                    "sample_rate": 4000,
                    "channels": 1,
                    "source": "bench",
                }
                for k in range(WINDOWS)
            ],
        ).all()
        rows = []
        for model_id in model_ids:
            probs = rng.dirichlet(np.full(5, 0.7), size=WINDOWS)
            entropy = -(probs * np.log(probs)).sum(axis=1) / np.log(5)
            epistemic = rng.uniform(0, 1, WINDOWS) * entropy
            for w, p, h, e in zip(window_ids, probs, entropy, epistemic):
                rows.append(
                    {
                        "window_id": w,
                        "model_id": model_id,
                        "probabilities": p.tolist(),
                        "predicted": [CLASSES[int(p.argmax())]],
                        "confidence": float(p.max()),
                        "entropy": float(h),
                        "epistemic": float(e),
                        "aleatoric": float(h - e),
                    }
                )
        session.execute(insert(Prediction), rows)
        session.execute(
            insert(TruthLabel),
            [
                {
                    "window_id": w,
                    "radius_km": 20,
                    "classes": [CLASSES[int(rng.integers(5))]],
                    "ambiguous": bool(rng.random() < 0.1),
                    "vessels": [],
                    "buffer_vessels": [],
                }
                for w in window_ids
            ],
        )


def run(settings: Settings, root: Path) -> dict:
    from app import create_app

    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    with session_scope(settings.database_url) as session:
        fake = []
        for name in ("alpha", "beta", "gamma"):
            row = MLModel(
                name=name,
                version="1",
                task="multi_class",
                class_names=CLASSES,
                feature_spec=DEFAULT_SPEC.to_dict(),
                feature_spec_hash=DEFAULT_SPEC.hash,
                artifact_path="/none",
                sha256="0" * 64,
                manifest={},
                status="active",
            )
            session.add(row)
            session.flush()
            fake.append(row.id)
        token = issue_token(session, create_user(session, "bench", "bench password", "operator").id)
    _fill(settings, fake)
    client = create_app(settings=settings).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    results = {}
    for strategy in STRATEGIES:
        ms = median_ms(
            lambda: client.get("/api/v1/review", headers=auth, query_string={"strategy": strategy, "limit": 50}), 5
        )
        results[f"review_{strategy}_11520_predictions"] = metric(ms, "ms", 500)

    with session_scope(settings.database_url) as session:  # the classify part uses two real models only
        session.execute(MLModel.__table__.update().values(status="inactive"))
    for i in range(2):
        package = write_package(
            root / f"m{i}",
            build_baseline(DEFAULT_SPEC, 5, seed=i),
            DEFAULT_SPEC,
            CLASSES,
            f"bench-{i}",
            "1",
            {},
            passes=10,
        )
        with store.open_package(package) as (keras_path, manifest):
            with session_scope(settings.database_url) as session:
                store.deploy(session, store.register(session, settings.data_dir / "models", keras_path, manifest))
    rate = 8000
    clip = io.BytesIO()
    soundfile.write(
        clip,
        np.random.default_rng(1).normal(0, 0.1, CLIP_SECONDS * rate).astype(np.float32),
        rate,
        format="WAV",
        subtype="PCM_16",
    )
    data = clip.getvalue()

    def classify() -> None:
        response = client.post(
            "/api/v1/predict",
            headers=auth,
            data={"file": (io.BytesIO(data), "bench.wav")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200, response.get_data(as_text=True)

    results["classify_5min_clip_2_models_cold"] = metric(median_ms(classify, 1), "ms", None)
    results["classify_5min_clip_2_models_warm"] = metric(median_ms(classify, 3), "ms", 5000)
    return results


def main() -> None:
    server_url = os.environ["DATABASE_URL"]
    name = f"ow_bench_loop_{uuid.uuid4().hex[:8]}"
    parsed = make_url(server_url)
    conn = psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password, dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            results = run(Settings(database_url=url, data_dir=Path(tmp), secret_key="bench-secret"), Path(tmp))
    finally:
        engine_for.cache_clear()
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        conn.close()
    print(
        json.dumps(
            {
                "benchmark": "loop",
                "results": results,
                "setup": {
                    "windows": WINDOWS,
                    "active_models_ranked": 3,
                    "clip_seconds": CLIP_SECONDS,
                    "clip_windows_per_model": int((CLIP_SECONDS - 30) // 22.5 + 1),
                    "mc_passes": 10,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
