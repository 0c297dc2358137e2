"""Small real Keras models and packages for tests (built here, so nothing downloads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oceanwatch.audio.features import FeatureSpec

# A tiny spec: 3 s windows, 16 mels -> input (16, 16, 1); models on it build and run in milliseconds.
TINY_SPEC = FeatureSpec(window_seconds=3.0, n_mels=16, fmax=2000.0)
CLASSES = ["A", "B", "C", "D", "E"]


def tiny_model(spec: FeatureSpec = TINY_SPEC, n_classes: int = 5, activation: str = "softmax",
               dropout: float = 0.3, lambda_layer: bool = False, skip_over_dropout: bool = False,
               batchnorm: bool = True, seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(spec.input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    if lambda_layer:
        x = keras.layers.Lambda(lambda z: z * 2.0)(x)
    if batchnorm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Dense(8, activation="relu")(x)
    h = keras.layers.Dropout(dropout)(features) if dropout else features
    if skip_over_dropout:
        h = keras.layers.Concatenate()([h, features])
    out = keras.layers.Dense(n_classes, activation=activation)(h)
    return keras.Model(inp, out)


def manifest(name: str = "tiny", version: str = "1", task: str = "multi_class", classes: list[str] | None = None,
             spec: FeatureSpec = TINY_SPEC, method: str = "mc_dropout", passes: int = 8) -> dict[str, Any]:
    return {"name": name, "version": version, "task": task, "class_names": classes or CLASSES,
            "feature_spec": spec.to_dict(), "uncertainty": {"method": method, "passes": passes},
            "description": "test model", "owner": "tests"}


def write_package(directory: Path, model: Any, manifest_data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    (directory / "manifest.json").write_text(json.dumps(manifest_data))
    return directory
