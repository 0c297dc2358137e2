"""Incremental classes: a prototype model on a deployed model's embedding, extended without retraining.

Each class is the mean direction (centroid) of a handful of reviewed windows' embeddings (the
base model's penultimate layer, L2-normalised) plus a similarity threshold from their spread.
A window is scored by cosine similarity to every centroid: logit_k = scale * (cos_k - threshold_k),
and an extra "unknown" logit of 0 wins when no class is similar enough.

The model is assembled from built-in Keras layers only (the base trunk, UnitNormalization and
two Dense layers whose weights are the centroids and thresholds), so it is registered, loaded in
safe mode, run live with MC dropout through the trunk, scored and rolled back like any other
model. Adding or removing a class registers a new version from the stored class statistics (in
its manifest), and replaces the active version if there was one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text, update

from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import MLModel
from oceanwatch.messages import PackedArray
from oceanwatch.registry import store
from oceanwatch.registry.artifact import load_safely
from oceanwatch.registry.manifest import parse_manifest

UNKNOWN = "unknown"
SCALE = 20.0  # sharpness of the softmax over similarities
SPREAD_K = 2.0  # threshold = mean similarity of the class's own windows - SPREAD_K * their std
MIN_WINDOWS = 3


class PrototypeError(ValueError):
    """A request the prototype model cannot honour (too few windows, unknown class, wrong model kind)."""


def embedding_model(base: Any) -> Any:
    """The base model up to its penultimate layer, normalised to unit length (the embedding)."""
    import keras

    return keras.Model(base.inputs, keras.layers.UnitNormalization(name="proto_unit")(base.layers[-2].output))


def class_stats(embeddings: np.ndarray) -> dict[str, Any]:
    """Centroid direction and similarity threshold of one class's unit-length embeddings."""
    if len(embeddings) < MIN_WINDOWS:
        raise PrototypeError(f"a class needs at least {MIN_WINDOWS} windows, got {len(embeddings)}")
    centroid = embeddings.mean(axis=0)
    centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
    similarity = embeddings @ centroid
    threshold = float(np.clip(similarity.mean() - SPREAD_K * similarity.std(), -1.0, 0.999))
    return {"centroid": centroid.astype(float).tolist(), "threshold": threshold, "n": int(len(embeddings)),
            "mean_similarity": float(similarity.mean())}


def build_model(base: Any, classes: dict[str, dict[str, Any]]) -> Any:
    """The prototype model over `classes` (code -> class_stats), outputs ordered as the dict then unknown."""
    import keras

    embedding = embedding_model(base)
    centroids = np.array([c["centroid"] for c in classes.values()], dtype=np.float32)  # K x D
    thresholds = np.array([c["threshold"] for c in classes.values()], dtype=np.float32)
    similarity = keras.layers.Dense(len(classes), name="proto_classes")
    unknown = keras.layers.Dense(1, name="proto_unknown")
    logits = keras.layers.Concatenate(name="proto_logits")([similarity(embedding.output), unknown(embedding.output)])
    model = keras.Model(embedding.inputs, keras.layers.Softmax(name="proto_probs")(logits), name="prototypes")
    similarity.set_weights([SCALE * centroids.T, -SCALE * thresholds])
    unknown.set_weights([np.zeros((centroids.shape[1], 1), np.float32), np.zeros(1, np.float32)])
    return model


def _features(url: str, window_ids: list[int], spec_hash: str) -> np.ndarray:
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("select window_id, dtype, shape, data from spectrograms "
                                 "where window_id = any(:ids) and spec_hash = :spec"),
                            {"ids": list(window_ids), "spec": spec_hash}).all()
    missing = sorted(set(window_ids) - {r.window_id for r in rows})
    if missing:
        raise PrototypeError(f"windows without features for this model's spec: {missing[:10]}")
    return np.stack([PackedArray(r.dtype, tuple(r.shape), r.data).unpack() for r in rows]).astype(np.float32)


def _register(url: str, models_dir: Path, base_row: MLModel, name: str, version: str,
              classes: dict[str, dict[str, Any]], user_id: int | None) -> int:
    classes = dict(sorted(classes.items()))  # outputs in code order, as the manifest's JSON keeps them
    base_manifest = parse_manifest(base_row.manifest)
    base = load_safely(Path(base_row.artifact_path))
    model = build_model(base, classes)
    manifest = {"name": name, "version": version, "task": "multi_class", "class_names": [*classes, UNKNOWN],
                "feature_spec": base_manifest.feature_spec.to_dict(),
                "uncertainty": {"method": base_manifest.uncertainty_method, "passes": base_manifest.mc_passes},
                "description": f"Prototype classes on the embedding of {base_row.name} {base_row.version}",
                "owner": "operators",
                "prototype": {"base_model_id": base_row.id, "base_sha256": base_row.sha256, "scale": SCALE,
                              "classes": classes}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        model_id = store.register(url, models_dir, path, manifest, user_id)
    with session_scope(url) as session:
        session.execute(update(MLModel).where(MLModel.id == model_id).values(kind="prototype"))
    return model_id


def create(url: str, models_dir: Path, base_model_id: int, name: str, examples: dict[str, list[int]],
           user_id: int | None = None) -> int:
    """Register version 1 of a prototype model with a class per entry of `examples` (code -> window ids)."""
    if not examples:
        raise PrototypeError("a prototype model needs at least one class")
    with session_scope(url) as session:
        base_row = session.get(MLModel, base_model_id)
        if base_row is None:
            raise PrototypeError(f"no model with id {base_model_id}")
        session.expunge(base_row)
    embed = embedding_model(load_safely(Path(base_row.artifact_path)))
    spec_hash = base_row.feature_spec_hash
    classes = {code: class_stats(np.asarray(embed.predict(_features(url, ids, spec_hash), verbose=0)))
               for code, ids in examples.items()}
    return _register(url, models_dir, base_row, name, "1", classes, user_id)


def _edit(url: str, models_dir: Path, model_id: int, user_id: int | None,
          change: Any) -> int:
    """New version of prototype model `model_id` with classes changed by `change(classes, base, spec_hash)`."""
    with session_scope(url) as session:
        row = session.get(MLModel, model_id)
        if row is None or "prototype" not in row.manifest:
            raise PrototypeError(f"model {model_id} is not a prototype model")
        proto = row.manifest["prototype"]
        base_row = session.get(MLModel, proto["base_model_id"])
        if base_row is None or base_row.sha256 != proto["base_sha256"]:
            raise PrototypeError("the base model of this prototype model is gone or has changed")
        versions = session.scalars(select(MLModel.version).where(MLModel.name == row.name)).all()
        was_active = row.status == "active"
        name = row.name
        session.expunge(base_row)
    classes = change(dict(proto["classes"]), base_row)
    version = str(max(int(v) for v in versions if v.isdigit()) + 1)
    new_id = _register(url, models_dir, base_row, name, version, classes, user_id)
    if was_active:
        store.deploy(url, new_id, user_id)
    return new_id


def add_class(url: str, models_dir: Path, model_id: int, code: str, window_ids: list[int],
              user_id: int | None = None) -> int:
    """A new version with class `code` learnt from `window_ids` (replacing a class of that code)."""
    if not code or len(code) > 16 or code == UNKNOWN:
        raise PrototypeError("a class code needs 1 to 16 characters and cannot be 'unknown'")

    def change(classes: dict[str, Any], base_row: MLModel) -> dict[str, Any]:
        embed = embedding_model(load_safely(Path(base_row.artifact_path)))
        features = _features(url, window_ids, base_row.feature_spec_hash)
        classes[code] = class_stats(np.asarray(embed.predict(features, verbose=0)))
        return classes

    return _edit(url, models_dir, model_id, user_id, change)


def remove_class(url: str, models_dir: Path, model_id: int, code: str, user_id: int | None = None) -> int:
    """A new version without class `code`."""

    def change(classes: dict[str, Any], _base_row: MLModel) -> dict[str, Any]:
        if code not in classes:
            raise PrototypeError(f"the prototype model has no class {code!r}")
        if len(classes) == 1:
            raise PrototypeError("the last class cannot be removed")
        del classes[code]
        return classes

    return _edit(url, models_dir, model_id, user_id, change)
