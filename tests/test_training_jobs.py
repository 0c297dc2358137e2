"""Training jobs: fine-tuning a deliberately weak model on labelled simulator windows improves it."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import Job, MLModel
from oceanwatch.registry import store
from oceanwatch.training.baseline import build_baseline, evaluate, write_package
from oceanwatch.training.trainjob import enqueue_training, labelled_set, run_training
from tests.modelkit import CLASSES, TINY_SPEC
from tests.trainingkit import store_labelled

pytestmark = pytest.mark.integration


def register_weak(settings: Settings, tmp_path: Path) -> int:
    model = build_baseline(TINY_SPEC, len(CLASSES), seed=3)  # untrained: chance level
    package = write_package(tmp_path / "weak", model, TINY_SPEC, CLASSES, "weak", "1", {})
    with store.open_package(package) as (keras_path, manifest):
        with session_scope(settings.database_url) as session:
            return store.register(session, settings.data_dir / "models", keras_path, manifest)


def test_labelled_set_reads_human_over_ais_in_time_order(settings: Settings) -> None:
    x, y = store_labelled(settings, 4, seed=1)
    with engine_for(settings.database_url).connect() as conn:
        got_x, got_y = labelled_set(conn, TINY_SPEC, CLASSES, 20, "both", None, None)
    assert np.array_equal(got_y, y) and np.allclose(got_x, x.astype(np.float16), atol=1e-3)
    with engine_for(settings.database_url).connect() as conn:
        human_x, human_y = labelled_set(conn, TINY_SPEC, CLASSES, 20, "human", None, None)
    assert np.array_equal(human_y, y[1::2])
    with engine_for(settings.database_url).connect() as conn:
        ais_x, ais_y = labelled_set(conn, TINY_SPEC, CLASSES, 20, "ais", None, None)
    assert np.array_equal(ais_y, y[0::2])


def test_fine_tuning_job_improves_a_weak_model_and_registers_a_new_version(settings: Settings, tmp_path) -> None:
    x, y = store_labelled(settings, 40, seed=2)
    weak_id = register_weak(settings, tmp_path)
    with session_scope(settings.database_url) as s:
        weak_path = s.get(MLModel, weak_id).artifact_path
    from oceanwatch.registry.artifact import load_safely

    cut = int(len(y) * 0.8)
    weak = evaluate(load_safely(weak_path), CLASSES, x[cut:], y[cut:])
    with session_scope(settings.database_url) as session:
        job_id = enqueue_training(
            session,
            {
                "base_model_id": weak_id,
                "name": "weak",
                "epochs": 15,
                "labels": "both",
                "radius_km": 20,
                "learning_rate": 3e-3,
            },
        )
    runner = partial(run_training, models_dir=settings.data_dir / "models")
    assert jobs.run_next(settings.database_url, {jobs.JobKind.TRAIN: runner}) == job_id
    with session_scope(settings.database_url) as s:
        job = s.get(Job, job_id)
        assert job.status == "succeeded", job.message
        result = job.result
        new = s.get(MLModel, result["model_id"])
        assert new.name == "weak" and new.version != "1" and new.status == "registered"
    assert [h["epoch"] for h in result["history"]] == list(range(1, 16))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result["history"][0])
    assert result["evaluation"]["macro_f1"] > weak["macro_f1"] + 0.2, (weak, result["evaluation"])


def test_a_training_job_can_be_cancelled_and_bad_requests_are_refused(settings: Settings, tmp_path) -> None:
    store_labelled(settings, 10, seed=3)
    with session_scope(settings.database_url) as session:
        with pytest.raises(ValueError):
            enqueue_training(session, {"name": "x", "labels": "rumour"})
        with pytest.raises(ValueError):
            enqueue_training(session, {"name": "", "labels": "both"})
        job_id = enqueue_training(
            session, {"name": "slow", "epochs": 500, "labels": "both", "feature_spec": TINY_SPEC.to_dict()}
        )
    runner = partial(run_training, models_dir=settings.data_dir / "models")
    worker = threading.Thread(target=jobs.run_next, args=(settings.database_url, {jobs.JobKind.TRAIN: runner}))
    worker.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_scope(settings.database_url) as s:
            if s.get(Job, job_id).progress > 0:
                break
        time.sleep(0.2)
    with session_scope(settings.database_url) as session:
        assert jobs.request_cancel(session, job_id)
    worker.join(timeout=120)
    with session_scope(settings.database_url) as s:
        assert s.get(Job, job_id).status == "cancelled"
        assert s.scalars(select(MLModel).where(MLModel.name == "slow")).first() is None
