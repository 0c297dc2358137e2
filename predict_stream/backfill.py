"""Backfill: run one model over a past time range of stored windows, as a job with progress.

Deploying a model queues one over the last PREDICT_CATCHUP_HOURS (so it predicts the windows
stored just before it); run one by hand after fixing a model so its history is comparable with
the others; `sites` in the job's parameters limits it to those sites' windows.  Features come from
the `spectrograms` table; windows that already have a prediction from the model are skipped, so a
re-run or an overlap with the live stream costs nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select

from oceanwatch import jobs
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel, Spectrogram, Window
from oceanwatch.inference.loading import load_verified
from oceanwatch.inference.predictions import lacks_prediction, prediction_rows, stack_features, store_predictions
from oceanwatch.messages import PackedArray


def _pending(model_id: int, start: dt.datetime, end: dt.datetime, sites: list[str] | None) -> Any:
    pending = (Window.start_time >= start) & (Window.start_time < end) & lacks_prediction(model_id)
    return pending if sites is None else pending & Window.hydrophone_id.in_(sites)


def run_backfill(url: str, job_id: int, params: dict[str, Any], chunk: int = 256) -> dict[str, Any]:
    """Predict every pending window of the range in chunks; returns counts for the job result."""
    model_id = int(params["model_id"])
    start, end = dt.datetime.fromisoformat(params["start"]), dt.datetime.fromisoformat(params["end"])
    sites: list[str] | None = params.get("sites")
    with session_scope(url) as session:
        row = session.get(MLModel, model_id)
        if row is None:
            raise ValueError(f"no model with id {model_id}")
        model = load_verified(row)
        total = session.scalar(select(func.count()).select_from(Window).where(_pending(model_id, start, end, sites)))
    spec_hash = model.manifest.feature_spec.hash
    counts = {"total": int(total or 0), "predicted": 0, "missing_features": 0}
    after_id = 0
    while True:
        with session_scope(url) as session:
            batch = session.execute(
                select(Window.id, Spectrogram.dtype, Spectrogram.shape, Spectrogram.data)
                .outerjoin(Spectrogram, and_(Spectrogram.window_id == Window.id, Spectrogram.spec_hash == spec_hash))
                .where(_pending(model_id, start, end, sites), Window.id > after_id)
                .order_by(Window.id)
                .limit(chunk)
            ).all()
        if not batch:
            break
        after_id = batch[-1].id
        usable = [r for r in batch if r.data is not None]
        counts["missing_features"] += len(batch) - len(usable)
        if usable:
            arrays = [PackedArray(r.dtype, tuple(r.shape), r.data).unpack() for r in usable]
            result = model.predict(stack_features(arrays))
            with session_scope(url) as session:
                counts["predicted"] += len(
                    store_predictions(session, prediction_rows(model, [r.id for r in usable], result))
                )
        done = counts["predicted"] + counts["missing_features"]
        jobs.progress(url, job_id, done / max(1, counts["total"]), f"{done} of {counts['total']} windows")
    return {**counts, "message": f"{counts['predicted']} predictions"}


def run_next_job(url: str) -> int | None:
    """Claim and run one queued backfill job, recording its outcome; returns its id or None."""
    return jobs.run_next(url, {jobs.JobKind.BACKFILL: run_backfill})
