"""Training jobs: train or fine-tune a model from labelled windows, in the background, with live progress.

A job's params choose the data (time range, radius, classes, which labels: AIS truth, human
labels or both - human over AIS as everywhere) and the start (`base_model_id` to fine-tune a
registered model, else the baseline architecture from scratch). Each epoch writes its
loss/accuracy into the job row, so a page can draw the curves while it runs, and checks for
cancellation. The held-out part is the latest 20 % of windows in time - never shuffled in - so
the final evaluation is about the future, as deployment is. The result is registered as a new
version, ready to deploy.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from oceanwatch import jobs
from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.clauses import time_range
from oceanwatch.db.models import Job, MLModel
from oceanwatch.messages import PackedArray
from oceanwatch.registry import store
from oceanwatch.registry.artifact import load_safely
from oceanwatch.registry.manifest import parse_manifest
from oceanwatch.training.baseline import evaluate, train_baseline, write_package
from oceanwatch.truth.labels import LABEL, LABEL_JOINS, LABEL_USABLE

SOURCES = ("ais", "human", "both")


def enqueue_training(session: Session, params: dict[str, Any], user_id: int | None = None) -> int:
    """Validate the request now (a bad job should fail at the form, not minutes later) and queue it."""
    if params.get("labels", "both") not in SOURCES:
        raise ValueError(f"labels must be one of {SOURCES}")
    if not params.get("name"):
        raise ValueError("a training job needs a model name")
    if int(params.get("epochs", 5)) < 1:
        raise ValueError("epochs must be at least 1")
    for key in ("start", "end"):
        if params.get(key):
            dt.datetime.fromisoformat(params[key])
    return jobs.add(session, jobs.JobKind.TRAIN, params, user_id)


def labelled_set(
    conn: Connection,
    spec: FeatureSpec,
    classes: list[str],
    radius_km: int,
    labels: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features and class indices of single-class labelled windows, oldest first (read on the caller's `conn`)."""
    clauses = [LABEL_USABLE, f"cardinality({LABEL}) = 1", f"({LABEL})[1] = any(:classes)"]
    if labels == "human":
        clauses.append("h.window_id is not null")
    elif labels == "ais":  # AIS only: ignore reviews, use truth as the labeller made it
        clauses[0] = "(t.window_id is not null and not t.ambiguous)"
    params: dict[str, Any] = {"radius": radius_km, "classes": classes, "spec": spec.hash}
    in_range, range_params = time_range("w.start_time", start, end)
    clauses += in_range
    params |= range_params
    label = "t.classes::text[]" if labels == "ais" else LABEL
    rows = conn.execute(
        text(f"""
        select {label} as label, s.dtype, s.shape, s.data from windows w {LABEL_JOINS}
        join spectrograms s on s.window_id = w.id and s.spec_hash = :spec
        where {" and ".join(clauses)} order by w.start_time"""),
        params,
    ).all()
    if not rows:
        return np.zeros((0, *spec.input_shape), np.float32), np.zeros(0, int)
    x = np.stack([PackedArray(r.dtype, tuple(r.shape), r.data).unpack() for r in rows]).astype(np.float32)
    return x, np.array([classes.index(r.label[0]) for r in rows])


def epoch_reporter(url: str, job_id: int, epochs: int) -> Any:
    """A Keras callback writing each epoch's history into the job row; cancellation stops training."""
    import keras

    class EpochReporter(keras.callbacks.Callback):  # type: ignore[misc]  # Keras ships no type stubs
        def __init__(self) -> None:
            super().__init__()
            self.history: list[dict[str, float]] = []

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self.history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
            with session_scope(url) as session:
                job = session.get(Job, job_id)
                if job is not None:  # a job deleted while training just stops being reported on
                    job.result = {"history": self.history}
            jobs.progress(
                url,
                job_id,
                (epoch + 1) / epochs,
                f"epoch {epoch + 1}/{epochs}: loss {self.history[-1].get('loss', 0.0):.3f}",
            )

    return EpochReporter()


def run_training(url: str, job_id: int, params: dict[str, Any], *, models_dir: Path) -> dict[str, Any]:
    """The job body (an oceanwatch.jobs runner once `models_dir` is bound)."""
    base_id = params.get("base_model_id")
    base = None
    if base_id is not None:
        with session_scope(url) as session:
            row = session.get(MLModel, int(base_id))
            if row is None:
                raise ValueError(f"no model with id {base_id}")
            manifest, artifact = parse_manifest(row.manifest), Path(row.artifact_path)
        spec, classes = manifest.feature_spec, list(params.get("classes") or manifest.class_names)
        if classes != list(manifest.class_names):
            raise ValueError("fine-tuning keeps the base model's classes; train from scratch to change them")
        base = load_safely(artifact)
    else:
        spec = FeatureSpec.from_dict(params["feature_spec"]) if params.get("feature_spec") else DEFAULT_SPEC
        classes = list(params.get("classes") or ["A", "B", "C", "D", "E"])
    start = dt.datetime.fromisoformat(params["start"]) if params.get("start") else None
    end = dt.datetime.fromisoformat(params["end"]) if params.get("end") else None
    with engine_for(url).connect() as conn:
        x, y = labelled_set(
            conn, spec, classes, int(params.get("radius_km", 20)), params.get("labels", "both"), start, end
        )
    if len(y) < 10:
        raise ValueError(f"only {len(y)} labelled windows match; need at least 10")
    cut = int(len(y) * 0.8)
    epochs = int(params.get("epochs", 5))
    reporter = epoch_reporter(url, job_id, epochs)
    if base is not None:
        import keras

        base.compile(
            optimizer=keras.optimizers.Adam(float(params.get("learning_rate", 5e-4))),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        base.fit(
            x[:cut],
            y[:cut],
            validation_data=(x[cut:], y[cut:]),
            epochs=epochs,
            batch_size=32,
            callbacks=[reporter],
            verbose=0,
            shuffle=True,
        )
        model = base
    else:
        model = train_baseline(
            spec, classes, x[:cut], y[:cut], x[cut:], y[cut:], epochs=epochs, callbacks=[reporter]
        ).model
    report = evaluate(model, classes, x[cut:], y[cut:])
    version = params.get("version") or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    with tempfile.TemporaryDirectory() as tmp:
        package = write_package(
            Path(tmp),
            model,
            spec,
            classes,
            params["name"],
            version,
            {"held_out_latest_20pct": report, "job_id": job_id, "base_model_id": base_id},
            passes=int(params.get("passes", 10)),
            description=params.get("description", "Trained from labelled windows"),
        )
        with store.open_package(package) as (keras_path, manifest_data):
            with session_scope(url) as session:
                model_id = store.register(session, models_dir, keras_path, manifest_data)
    return {
        "model_id": model_id,
        "version": version,
        "history": reporter.history,
        "evaluation": report,
        "train_windows": cut,
        "test_windows": len(y) - cut,
        "message": f"registered model {model_id}: held-out macro-F1 {report['macro_f1']:.3f}",
    }
