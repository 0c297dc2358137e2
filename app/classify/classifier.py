"""Classify an uploaded clip with registered models: what the "Classify a clip" page and
`POST /api/v1/predict` both do.

Models stay loaded in the web process (`oceanwatch.inference.loading.ModelCache`, keyed by model id
and artifact checksum, so a re-registered artifact is never served from a stale copy); features are
computed once per distinct feature spec however many models share it, exactly as the live
predict stream does, and the per-window rows come from the stream's own `prediction_rows`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import select

from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.audio.features import DEFAULT_SPEC, FeatureSpec, compute, compute_batch
from oceanwatch.audio.uploads import Clip, ClipError, ClipWindows, read_clip, require_real_audio, split_windows
from oceanwatch.db.audit import record
from oceanwatch.db.models import MLModel, ModelStatus, Upload
from oceanwatch.inference.loading import ModelCache
from oceanwatch.inference.predictions import prediction_rows
from oceanwatch.inference.uncertainty import summarize

log = logging.getLogger(__name__)
OUTPUT_FIELDS = ("probabilities", "predicted", "confidence", "entropy", "epistemic", "aleatoric")


class ModelChoiceError(InputError):
    """The request names a model that does not exist (404) or there is none to use (409)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status)


def model_cache() -> ModelCache:
    return current_app.extensions.setdefault("oceanwatch_model_cache", ModelCache())


def classify_slots() -> threading.BoundedSemaphore:
    """How many uploads this worker process decodes and classifies at once (CLASSIFY_CONCURRENCY).

    gthread workers serve many requests in one process, so MAX_UPLOAD_SAMPLES bounds a worker's
    memory only together with this; the others wait their turn."""
    slots = current_app.config["OCEANWATCH_SETTINGS"].classify.concurrency
    return current_app.extensions.setdefault("oceanwatch_classify_slots", threading.BoundedSemaphore(slots))


def choose_models(model_id: int | None, name: str | None) -> list[MLModel]:
    """The named model (any state: a registered version can be tried before deploying it), the
    active version of a named model (else its newest), or every active healthy model."""
    if model_id is not None:
        row = db.session.get(MLModel, model_id)
        if row is None:
            raise ModelChoiceError(f"no model with id {model_id}", 404)
        return [row]
    if name:
        row = db.session.scalars(
            select(MLModel)
            .where(MLModel.name == name)
            .order_by((MLModel.status == ModelStatus.ACTIVE).desc(), MLModel.id.desc())
            .limit(1)
        ).first()
        if row is None:
            raise ModelChoiceError(f"no model named {name!r}", 404)
        return [row]
    rows = list(
        db.session.scalars(
            select(MLModel).where(MLModel.status == ModelStatus.ACTIVE, MLModel.healthy.is_(True)).order_by(MLModel.id)
        )
    )
    if not rows:
        raise ModelChoiceError("no model is active; deploy one or name one with model_id", 409)
    return rows


def classify(clip: Clip, rows: list[MLModel], cache: ModelCache, min_audio_share: float) -> list[dict[str, Any]]:
    """Each model's per-window outputs and a clip summary; a model that cannot run says why in `error`,
    as does one whose window the clip fills less than `min_audio_share` (its answer would be padding's)."""
    cut: dict[str, tuple[ClipWindows, np.ndarray] | ValueError] = {}
    results = []
    for row in rows:
        entry: dict[str, Any] = {
            "model_id": row.id,
            "name": row.name,
            "version": row.version,
            "task": row.task,
            "status": row.status,
            "class_names": list(row.class_names),
        }
        try:
            model = cache.get(row)
        except Exception as exc:  # one broken model must not stop the others
            log.exception("model %d could not be loaded for a clip", row.id)
            results.append({**entry, "error": f"the model could not be loaded: {exc}", "error_kind": "model"})
            continue
        try:
            require_real_audio(
                clip, model.manifest.feature_spec.window_seconds, min_audio_share, f"model {row.name} v{row.version}"
            )
            windows, features = _features(clip, model.manifest.feature_spec, cut)
        except (ClipMismatch, ClipError) as exc:
            results.append({**entry, "error": str(exc), "error_kind": "clip"})
            continue
        try:
            outputs = prediction_rows(model, range(len(windows.starts_s)), model.predict(features))
        except Exception as exc:
            log.exception("model %d failed on a clip", row.id)
            results.append({**entry, "error": f"the model failed: {type(exc).__name__}: {exc}", "error_kind": "model"})
            continue
        spec = model.manifest.feature_spec
        window_s = spec.window_seconds
        entry["notes"] = windows.notes + (
            [
                f"the clip's {clip.sample_rate} Hz is below the model's {spec.sample_rate} Hz: it was upsampled, so "
                f"there is nothing above {clip.sample_rate / 2:g} Hz"
            ]
            if clip.sample_rate < spec.sample_rate
            else []
        )
        entry["windows"] = [
            {
                "start_s": start,
                "end_s": min(start + window_s, clip.duration_s),
                "padded_share": padded,
                **{k: out[k] for k in OUTPUT_FIELDS},
            }
            for start, padded, out in zip(windows.starts_s, windows.padded_share, outputs)
        ]
        entry["summary"] = _summary(entry["windows"], list(row.class_names), row.task)
        results.append(entry)
    return results


class ClipMismatch(InputError):
    """The clip cannot become this model's input (e.g. too few channels for the spec)."""


def _features(clip: Clip, spec: FeatureSpec, cut: dict[str, Any]) -> tuple[ClipWindows, np.ndarray]:
    """Windows and features for one spec, computed once per request (cached in `cut`, errors too)."""
    if spec.hash not in cut:
        windows = split_windows(clip, spec.window_seconds)
        try:
            cut[spec.hash] = (windows, compute_batch(spec, windows.audio, clip.sample_rate))
        except ValueError as exc:
            cut[spec.hash] = ClipMismatch(f"the clip does not fit this model's input: {exc}")
    value = cut[spec.hash]
    if isinstance(value, ClipMismatch):
        raise value
    return value


def _summary(windows: list[dict[str, Any]], classes: list[str], task: str) -> dict[str, Any]:
    """The clip as a whole: probabilities averaged over its windows, classes and entropy by the task's
    own rule (`summarize` on the averaged probabilities), epistemic/aleatoric averaged."""
    mean = np.mean([w["probabilities"] for w in windows], axis=0)
    overall = summarize(mean[None, None, :], task)

    def average(key: str) -> float | None:
        values = [w[key] for w in windows if w[key] is not None]
        return float(np.mean(values)) if values else None

    return {
        "probabilities": [float(p) for p in mean],
        "predicted": [classes[i] for i in overall.predicted[0]],
        "confidence": float(overall.confidence[0]),
        "entropy": float(overall.entropy[0]),
        "epistemic": average("epistemic"),
        "aleatoric": average("aleatoric"),
        "windows": len(windows),
    }


def clip_summary(clip: Clip, filename: str) -> dict[str, Any]:
    return {
        "filename": filename,
        "format": clip.format,
        "sha256": clip.sha256,
        "duration_s": clip.duration_s,
        "sample_rate": clip.sample_rate,
        "channels": clip.channels,
    }


def clip_spectrogram(clip: Clip) -> np.ndarray:
    """Log-mel of the whole clip (channel 0) with the platform's default spec, for display."""
    spec = dataclasses.replace(DEFAULT_SPEC, window_seconds=clip.duration_s, channels=1)
    return compute(spec, clip.audio[:, :1], clip.sample_rate)


def keep(clip: Clip, data: bytes, filename: str, results: dict[str, Any], user_id: int | None) -> int:
    """Store the clip under DATA_DIR/uploads (named by its checksum) and a row with its results."""
    directory = current_app.config["OCEANWATCH_SETTINGS"].data_dir / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{clip.sha256}.{clip.format}"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    row = Upload(
        user_id=user_id,
        filename=filename[:255],
        path=str(path.resolve()),
        sha256=clip.sha256,
        duration_s=clip.duration_s,
        sample_rate=clip.sample_rate,
        channels=clip.channels,
        results=results,
    )
    db.session.add(row)
    db.session.flush()
    record(db.session, user_id, "upload.keep", "upload", row.id, filename=row.filename, sha256=clip.sha256)
    db.session.commit()
    return row.id


def run(
    data: bytes, filename: str, model_id: int | None, name: str | None, keep_upload: bool, user_id: int | None
) -> tuple[Clip, dict[str, Any]]:
    """Read, classify and optionally keep one upload; raises ClipError (400) or ModelChoiceError."""
    settings = current_app.config["OCEANWATCH_SETTINGS"]
    with classify_slots():
        try:
            clip = read_clip(data, settings.classify.max_upload_seconds, settings.classify.max_upload_samples)
        except ClipError as exc:
            log.warning("upload %r refused: %s", filename, exc)
            raise
        rows = choose_models(model_id, name)
        models = classify(clip, rows, model_cache(), settings.classify.min_audio_share)
    if all(m.get("error_kind") == "clip" for m in models):  # no model could take this clip
        raise ClipError("; ".join(m["error"] for m in models))
    if len(rows) == 1 and "error" in models[0]:  # the one model asked for could not answer
        raise ModelChoiceError(models[0]["error"], 409)
    result = {"clip": clip_summary(clip, filename), "models": models}
    result["upload_id"] = keep(clip, data, filename, result, user_id) if keep_upload else None
    return clip, result
