"""Keras artifacts: refuse unsafe ones with a clear reason, load safe ones, check them against a manifest.

Two lines of defence.  First the archive's `config.json` is walked without loading anything,
so a Lambda layer, a serialised Python lambda (even one hidden as an Activation's function) or
an object from outside the `keras` package is refused naming the layer; then Keras loads it
with `safe_mode=True`, which refuses anything that would deserialise Python code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from oceanwatch.registry import zipsafe
from oceanwatch.registry.manifest import Manifest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STOCHASTIC_LAYERS = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "AlphaDropout",
    "GaussianNoise",
}


class ArtifactError(ValueError):
    """A model artifact that cannot be accepted, with the reason in words a user can act on."""


def _mappings(node: Any, layer: str = "?") -> Iterator[tuple[dict[str, Any], str]]:
    """Every mapping inside a config tree, with the name of the layer it sits in.

    The layer is the nearest enclosing object whose config is a layer's (it has `name` and
    `trainable`), so a function hidden in an Activation's config is reported under that layer.
    """
    if isinstance(node, dict):
        config = node.get("config")
        if (
            "class_name" in node
            and isinstance(config, dict)
            and "trainable" in config
            and isinstance(config.get("name"), str)
        ):
            layer = config["name"]
        yield node, layer
        for value in node.values():
            yield from _mappings(value, layer)
    elif isinstance(node, list):
        for value in node:
            yield from _mappings(value, layer)


def _is_serialised_function(obj: dict[str, Any]) -> bool:
    """Python bytecode in any of the forms Keras writes it: a `__lambda__` object, its bare
    `{"value": [code, defaults, closure]}` config (how an Activation saves a lambda), or a
    Keras 2 `function_type: lambda`."""
    value = obj.get("value")
    bare = set(obj) == {"value"} and isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
    named = str(obj.get("class_name")).lower() in ("__lambda__", "lambda") or obj.get("function_type") == "lambda"
    return bare or named


def read_config(path: Path) -> dict[str, Any]:
    """The model config inside a `.keras` archive, without deserialising any object."""

    def refuse(reason: str) -> ArtifactError:
        return ArtifactError(f"not a Keras 3 .keras archive ({reason})")

    with zipsafe.open_zip(path, refuse) as archive:
        names = set(archive.namelist())
        if "config.json" not in names or "model.weights.h5" not in names:
            raise refuse("config.json and model.weights.h5 expected")
        return zipsafe.load_json(archive.read("config.json"), refuse, "config.json")


def _is_keras_module(module: Any) -> bool:
    """`keras` or `keras.*`, compared by its dotted parts: `keras_evil.layers` is not Keras."""
    return isinstance(module, str) and module.split(".")[0] == "keras"


def unsafe_parts(config: dict[str, Any]) -> list[str]:
    """Reasons a config needs arbitrary code, anywhere in it: Lambda layers, serialised Python
    functions (`__lambda__`), and objects from outside Keras or registered as custom objects."""
    problems = []
    for obj, layer in _mappings(config):
        class_name, module, registered = obj.get("class_name"), obj.get("module"), obj.get("registered_name")
        if class_name == "Lambda":
            problems.append(f"layer '{layer}' is a Lambda layer (arbitrary Python code)")
        elif _is_serialised_function(obj):
            problems.append(f"layer '{layer}' holds a serialised Python lambda (arbitrary Python code)")
        if "class_name" not in obj:  # Keras imports modules only for objects
            continue
        if module is not None and not _is_keras_module(module):
            problems.append(
                f"'{registered or class_name}' is a custom object from module '{module}' "
                f"in layer '{layer}' (arbitrary Python code)"
            )
        elif registered is not None and registered != class_name:
            problems.append(f"'{registered}' is a registered custom object in layer '{layer}' (arbitrary Python code)")
    return problems


def load_safely(path: Path) -> Any:
    """Load a `.keras` file, refusing anything that needs arbitrary code."""
    problems = unsafe_parts(read_config(path))
    if problems:
        raise ArtifactError(
            "refused: the model needs arbitrary code, which the registry does not run: "
            + "; ".join(dict.fromkeys(problems))
        )
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types; all mean "cannot load safely"
        raise ArtifactError(f"Keras could not load the model in safe mode: {type(exc).__name__}: {exc}") from None


def stochastic_layers(model: Any) -> list[str]:
    return [layer.name for layer in all_layers(model) if type(layer).__name__ in STOCHASTIC_LAYERS]


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer, descending into nested models."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def check_against_manifest(model: Any, manifest: Manifest) -> None:
    """Run one window through the model and check shapes and output ranges against the manifest."""
    expected_in = manifest.feature_spec.input_shape
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ArtifactError(f"the model must have exactly one input, it has {len(inputs)}")
    declared = tuple(inputs[0].shape[1:])
    if declared != expected_in:
        raise ArtifactError(
            f"input shape {declared} does not match the feature spec's {expected_in} (frames, mels, channels)"
        )
    try:
        out = np.asarray(model(np.zeros((1, *expected_in), dtype=np.float32), training=False))
    except Exception as exc:
        raise ArtifactError(f"the model failed on one window: {type(exc).__name__}: {exc}") from None
    n_classes = len(manifest.class_names)
    if out.shape != (1, n_classes):
        raise ArtifactError(f"output shape {out.shape[1:]} does not match the {n_classes} class names")
    if not np.all(np.isfinite(out)) or out.min() < -1e-6 or out.max() > 1 + 1e-6:
        raise ArtifactError("outputs must be probabilities in [0, 1] (softmax or sigmoid output layer)")
    if manifest.task == "multi_class" and abs(float(out.sum()) - 1.0) > 1e-3:
        raise ArtifactError("a multi_class model must output a softmax (probabilities summing to 1)")
    if manifest.uncertainty_method == "mc_dropout" and not stochastic_layers(model):
        raise ArtifactError("uncertainty method mc_dropout needs at least one dropout layer in the model")
