"""Small real Keras models and packages for tests (built here, so nothing downloads)."""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from oceanwatch.audio.features import FeatureSpec
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import ModelStatus
from oceanwatch.registry import store

# A tiny spec: 3 s windows, 16 mels -> input (16, 16, 1); models on it build and run in milliseconds.
TINY_SPEC = FeatureSpec(window_seconds=3.0, n_mels=16, fmax=2000.0)
CLASSES = ["A", "B", "C", "D", "E"]


def tiny_model(
    spec: FeatureSpec = TINY_SPEC,
    n_classes: int = 5,
    activation: str = "softmax",
    dropout: float = 0.3,
    lambda_layer: bool = False,
    skip_over_dropout: bool = False,
    batchnorm: bool = True,
    seed: int = 0,
) -> Any:
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


def manifest(
    name: str = "tiny",
    version: str = "1",
    task: str = "multi_class",
    classes: list[str] | None = None,
    spec: FeatureSpec = TINY_SPEC,
    method: str = "mc_dropout",
    passes: int = 8,
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "task": task,
        "class_names": classes or CLASSES,
        "feature_spec": spec.to_dict(),
        "uncertainty": {"method": method, "passes": passes},
        "description": "test model",
        "owner": "tests",
    }


def write_package(directory: Path, model: Any, manifest_data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    (directory / "manifest.json").write_text(json.dumps(manifest_data))
    return directory


@cache
def _tiny_package(task: str, n_classes: int, spec_json: str) -> Path:
    """One tiny Keras file per kind of model, built once per test process (registering copies it)."""
    spec = FeatureSpec.from_dict(json.loads(spec_json))
    activation = "sigmoid" if task == "multi_label" else "softmax"
    directory = Path(tempfile.mkdtemp(prefix="ow-tiny-"))
    tiny_model(spec, n_classes, activation=activation).save(directory / "model.keras")
    return directory / "model.keras"


def registered_model(
    settings: Settings,
    name: str,
    *,
    task: str = "multi_class",
    classes: list[str] | None = None,
    version: str = "1",
    spec: FeatureSpec = TINY_SPEC,
    status: ModelStatus = ModelStatus.ACTIVE,
) -> int:
    """A model version as the registry makes one (a real package, validated, checksummed), in `status`.

    For tests that need models to exist (scores, review, dashboards) rather than to run.
    """
    classes = classes or CLASSES
    keras_file = _tiny_package(task, len(classes), json.dumps(spec.to_dict(), sort_keys=True))
    with session_scope(settings.database_url) as session:
        model_id = store.register(
            session,
            settings.data_dir / "models",
            keras_file,
            manifest(name, version, task, classes, spec, method="none", passes=1),
        )
        if status != ModelStatus.REGISTERED:
            store.deploy(session, model_id)
        if status == ModelStatus.INACTIVE:
            store.deactivate(session, model_id)
    return model_id


def runnable_model(settings: Settings, directory: Path, name: str, deploy: bool = True, **manifest_kwargs: Any) -> int:
    """A model that runs, with weights of its own (seeded by its name), packaged under `directory`,
    registered and (unless told not to) deployed: for tests that predict with it."""
    data = manifest(name=name, **manifest_kwargs)
    spec = manifest_kwargs.get("spec", TINY_SPEC)
    package = write_package(directory / name, tiny_model(spec=spec, seed=len(name)), data)
    with session_scope(settings.database_url) as session:
        model_id = store.register(session, settings.data_dir / "models", package / "model.keras", data)
    if deploy:
        with session_scope(settings.database_url) as session:
            store.deploy(session, model_id)
    return model_id
