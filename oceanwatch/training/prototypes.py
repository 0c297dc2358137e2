"""Incremental classes: a prototype model on a deployed model's embedding, extended without retraining.

Each class is the mean direction (centroid) of a handful of reviewed windows' embeddings (the
base model's penultimate layer, L2-normalised) plus a radius: how far, in cosine distance, a window
of the class may lie from the centroid.  A window is scored by its distance d_k to every centroid in
units of one radius R, the mean of the classes' radii: logit_k = scale * (1 - d_k / R), so the
nearest centroid wins, and an extra "unknown" logit of 0 wins when even that one is beyond R.
Dividing each class's distance by its own radius instead let a broad class swallow a tight new
one: a window of the new class, nearer its own centroid, still counted fewer radii from the broad
class's (with a well-trained base, nearly every such window went to the neighbour).

The radius comes from the support set itself, measured the way the model will run live: each
window's embedding under the base model's MC-dropout passes is compared with the centroid of the
*other* windows (leave-one-out, so a window never vouches for itself), and the radius is a margin
times a high quantile of those distances.  Being relative to the support windows' own spread, R does not
depend on the embedding's scale or on how tight the cosines of a given base model (or a given CPU's
floating-point path) happen to be; an absolute similarity cut from the windows' in-sample spread,
computed without dropout while live scoring runs with it, did.

The model is assembled from built-in Keras layers only (the base trunk, UnitNormalization and
a Dense layer whose weights are the centroids and radii), so it is registered, loaded in
safe mode, run live with MC dropout through the trunk, scored and rolled back like any other
model. Adding or removing a class registers a new version from the stored class statistics (in
its manifest), and replaces the active version if there was one.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from oceanwatch.db.models import MLModel, ModelStatus
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.messages import PackedArray
from oceanwatch.registry import store
from oceanwatch.registry.artifact import load_safely
from oceanwatch.registry.manifest import Manifest, parse_manifest

UNKNOWN = "unknown"
SCALE = 10.0  # logit of a window on its class's centroid; 0 at the radius, negative beyond
RADIUS_QUANTILE = 0.9  # of the leave-one-out distances of the class's own windows (all MC passes)
RADIUS_MARGIN = 1.5  # radius = RADIUS_MARGIN * that quantile: a new window is a little farther than a seen one
CALIBRATION_PASSES = 50  # MC passes per support window when measuring the radius
MIN_WINDOWS = 3


class PrototypeError(ValueError):
    """A request the prototype model cannot honour (too few windows, unknown class, wrong model kind)."""


def embedding_model(base: Any) -> Any:
    """The base model up to its penultimate layer, normalised to unit length (the embedding)."""
    import keras

    return keras.Model(base.inputs, keras.layers.UnitNormalization(name="proto_unit")(base.layers[-2].output))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def class_stats(passes: np.ndarray) -> dict[str, Any]:
    """Centroid and radius of one class from its windows' unit embeddings, shape (passes, windows, D).

    `threshold` is the cosine similarity at the radius (1 - radius), the form the manifest keeps.
    """
    n = passes.shape[1]
    if n < MIN_WINDOWS:
        raise PrototypeError(f"a class needs at least {MIN_WINDOWS} windows, got {n}")
    passes = passes.astype(np.float64)
    per_window = passes.mean(axis=0)  # (windows, D)
    centroid = _unit(per_window.sum(axis=0))
    others = _unit(per_window.sum(axis=0)[None] - per_window)  # leave-one-out centroids, (windows, D)
    distance = 1.0 - np.einsum("pwd,wd->pw", passes, others)
    radius = float(np.clip(RADIUS_MARGIN * np.quantile(distance, RADIUS_QUANTILE), 1e-4, 2.0))
    return {
        "centroid": centroid.tolist(),
        "threshold": 1.0 - radius,
        "n": int(n),
        "mean_similarity": float(1.0 - distance.mean()),
    }


def support_stats(base: Any, base_manifest: Manifest, features: np.ndarray) -> dict[str, Any]:
    """class_stats of `features` embedded by `base` as the live runtime runs it (its MC dropout), with
    at least CALIBRATION_PASSES passes so the radius does not hang on a few dropout draws."""
    passes = max(base_manifest.mc_passes, CALIBRATION_PASSES) if base_manifest.passes > 1 else 1
    embed = LoadedModel(0, dataclasses.replace(base_manifest, mc_passes=passes), embedding_model(base))
    return class_stats(embed.pass_probabilities(features))


def build_model(base: Any, classes: dict[str, dict[str, Any]]) -> Any:
    """The prototype model over `classes` (code -> class_stats), outputs ordered as the dict then unknown.

    logit_k = SCALE * (1 - (1 - cos_k) / R) = (SCALE / R) * cos_k - SCALE * (1 - R) / R with R the mean
    of the classes' radii, and the unknown logit is a column of zeros: one Dense layer, so the model is a
    chain the runtime can split before its dropout (the trunk runs once per window, only the head once
    per MC pass).
    """
    import keras

    embedding = embedding_model(base)
    centroids = np.array([c["centroid"] for c in classes.values()], dtype=np.float64)  # K x D
    radius = float(np.mean([1.0 - c["threshold"] for c in classes.values()]))
    logits = keras.layers.Dense(len(classes) + 1, name="proto_logits")
    model = keras.Model(
        embedding.inputs, keras.layers.Softmax(name="proto_probs")(logits(embedding.output)), name="prototypes"
    )
    kernel = np.concatenate([SCALE * centroids.T / radius, np.zeros((centroids.shape[1], 1))], axis=1)
    bias = np.append(np.full(len(classes), -SCALE * (1.0 - radius) / radius), 0.0)
    logits.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return model


def _features(session: Session, window_ids: list[int], spec_hash: str) -> np.ndarray:
    rows = session.execute(
        text(
            "select window_id, dtype, shape, data from spectrograms where window_id = any(:ids) and spec_hash = :spec"
        ),
        {"ids": list(window_ids), "spec": spec_hash},
    ).all()
    missing = sorted(set(window_ids) - {r.window_id for r in rows})
    if missing:
        raise PrototypeError(f"windows without features for this model's spec: {missing[:10]}")
    return np.stack([PackedArray(r.dtype, tuple(r.shape), r.data).unpack() for r in rows]).astype(np.float32)


def _register(
    session: Session,
    models_dir: Path,
    base_row: MLModel,
    name: str,
    version: str,
    classes: dict[str, dict[str, Any]],
    user_id: int | None,
) -> int:
    classes = dict(sorted(classes.items()))  # outputs in code order, as the manifest's JSON keeps them
    base_manifest = parse_manifest(base_row.manifest)
    base = load_safely(Path(base_row.artifact_path))
    model = build_model(base, classes)
    manifest = {
        "name": name,
        "version": version,
        "task": "multi_class",
        "class_names": [*classes, UNKNOWN],
        "feature_spec": base_manifest.feature_spec.to_dict(),
        "uncertainty": {"method": base_manifest.uncertainty_method, "passes": base_manifest.mc_passes},
        "description": f"Prototype classes on the embedding of {base_row.name} {base_row.version}",
        "owner": "operators",
        "prototype": {"base_model_id": base_row.id, "base_sha256": base_row.sha256, "scale": SCALE, "classes": classes},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        model_id = store.register(session, models_dir, path, manifest, user_id)
    session.execute(update(MLModel).where(MLModel.id == model_id).values(kind="prototype"))
    return model_id


def create(
    session: Session,
    models_dir: Path,
    base_model_id: int,
    name: str,
    examples: dict[str, list[int]],
    user_id: int | None = None,
) -> int:
    """Register version 1 of a prototype model with a class per entry of `examples` (code -> window ids)."""
    if not examples:
        raise PrototypeError("a prototype model needs at least one class")
    base_row = session.get(MLModel, base_model_id)
    if base_row is None:
        raise PrototypeError(f"no model with id {base_model_id}")
    base, base_manifest = load_safely(Path(base_row.artifact_path)), parse_manifest(base_row.manifest)
    classes = {
        code: support_stats(base, base_manifest, _features(session, ids, base_row.feature_spec_hash))
        for code, ids in examples.items()
    }
    return _register(session, models_dir, base_row, name, "1", classes, user_id)


def _edit(session: Session, models_dir: Path, model_id: int, user_id: int | None, change: Any) -> int:
    """New version of prototype model `model_id` with classes changed by `change(classes, base, spec_hash)`."""
    row = session.get(MLModel, model_id)
    if row is None or "prototype" not in row.manifest:
        raise PrototypeError(f"model {model_id} is not a prototype model")
    proto = row.manifest["prototype"]
    base_row = session.get(MLModel, proto["base_model_id"])
    if base_row is None or base_row.sha256 != proto["base_sha256"]:
        raise PrototypeError("the base model of this prototype model is gone or has changed")
    versions = session.scalars(select(MLModel.version).where(MLModel.name == row.name)).all()
    was_active = row.status == ModelStatus.ACTIVE
    name = row.name
    classes = change(dict(proto["classes"]), base_row)
    version = str(max(int(v) for v in versions if v.isdigit()) + 1)
    new_id = _register(session, models_dir, base_row, name, version, classes, user_id)
    if was_active:
        store.deploy(session, new_id, user_id)
    return new_id


def add_class(
    session: Session, models_dir: Path, model_id: int, code: str, window_ids: list[int], user_id: int | None = None
) -> int:
    """A new version with class `code` learnt from `window_ids` (replacing a class of that code)."""
    if not code or len(code) > 16 or code == UNKNOWN:
        raise PrototypeError("a class code needs 1 to 16 characters and cannot be 'unknown'")

    def change(classes: dict[str, Any], base_row: MLModel) -> dict[str, Any]:
        features = _features(session, window_ids, base_row.feature_spec_hash)
        classes[code] = support_stats(
            load_safely(Path(base_row.artifact_path)), parse_manifest(base_row.manifest), features
        )
        return classes

    return _edit(session, models_dir, model_id, user_id, change)


def remove_class(session: Session, models_dir: Path, model_id: int, code: str, user_id: int | None = None) -> int:
    """A new version without class `code`."""

    def change(classes: dict[str, Any], _base_row: MLModel) -> dict[str, Any]:
        if code not in classes:
            raise PrototypeError(f"the prototype model has no class {code!r}")
        if len(classes) == 1:
            raise PrototypeError("the last class cannot be removed")
        del classes[code]
        return classes

    return _edit(session, models_dir, model_id, user_id, change)
