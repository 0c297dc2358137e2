"""A loaded model ready for batched inference with MC-dropout passes.

Keras runs a layer in training mode only where it matters here: batch-normalisation layers are
frozen (`trainable = False` makes Keras use their moving statistics even when `training=True`),
so `training=True` switches on dropout alone.  When the graph allows, the model is split
before its first stochastic layer: the deterministic trunk runs once per window and only the
head runs once per pass, which makes T passes cost far less than T forward passes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from oceanwatch.inference.uncertainty import Uncertainty, summarize
from oceanwatch.registry.artifact import STOCHASTIC_LAYERS, all_layers, load_safely
from oceanwatch.registry.manifest import Manifest

log = logging.getLogger(__name__)


class LoadedModel:
    """One registered model in memory: `predict` returns class probabilities and uncertainty."""

    def __init__(self, model_id: int, manifest: Manifest, keras_model: Any, max_batch: int = 256) -> None:
        import tensorflow as tf

        self.model_id = model_id
        self.manifest = manifest
        self.max_batch = max_batch
        for layer in all_layers(keras_model):
            if type(layer).__name__.startswith("BatchNormalization"):
                layer.trainable = False
        self._trunk: Any
        self._head: Any
        self._trunk, self._head = _split(keras_model) if manifest.passes > 1 else (None, None)
        # Fixed signatures with a free batch dimension: one trace per function, whatever the batch size.
        spec = [tf.TensorSpec([None, *manifest.feature_spec.input_shape], tf.float32)]
        self._infer = tf.function(lambda x: keras_model(x, training=False), input_signature=spec)
        self._stochastic = tf.function(lambda x: keras_model(x, training=True), input_signature=spec)
        if self._trunk is not None:
            trunk, head = self._trunk, self._head
            hidden = [tf.TensorSpec([None, *trunk.outputs[0].shape[1:]], tf.float32)]
            self._trunk_fn = tf.function(lambda x: trunk(x, training=False), input_signature=spec)
            self._head_fn = tf.function(lambda h: head(h, training=True), input_signature=hidden)

    @classmethod
    def from_artifact(cls, model_id: int, manifest: Manifest, path: Path) -> "LoadedModel":
        return cls(model_id, manifest, load_safely(path))

    @property
    def split(self) -> bool:
        """True when MC passes re-run only the head (the fast path)."""
        return self._trunk is not None

    def pass_probabilities(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of every pass, shape (passes, N, classes)."""
        if x.shape[1:] != self.manifest.feature_spec.input_shape:
            raise ValueError(f"input {x.shape[1:]} != model input {self.manifest.feature_spec.input_shape}")
        chunks = [self._passes(x[i : i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
        return (
            np.concatenate(chunks, axis=1)
            if chunks
            else np.zeros((self.manifest.passes, 0, len(self.manifest.class_names)))
        )

    def _passes(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        passes = self.manifest.passes
        if passes == 1:
            return np.asarray(self._infer(x))[None]
        if self._trunk is not None:
            hidden = self._trunk_fn(x)
            hidden_rep = np.repeat(np.asarray(hidden)[None], passes, axis=0).reshape(-1, *hidden.shape[1:])
            out = np.asarray(self._head_fn(hidden_rep))
        else:
            out = np.asarray(self._stochastic(np.repeat(x[None], passes, axis=0).reshape(-1, *x.shape[1:])))
        return out.reshape(passes, len(x), -1)

    def predict(self, x: np.ndarray) -> Uncertainty:
        return summarize(self.pass_probabilities(x), self.manifest.task)


def _split(model: Any) -> tuple[Any, Any] | tuple[None, None]:
    """Trunk (input to the first stochastic layer's input) and head, or (None, None) if the graph
    does not separate there (e.g. a skip connection jumps over the dropout)."""
    import keras

    first = next((layer for layer in model.layers if type(layer).__name__ in STOCHASTIC_LAYERS), None)
    if first is None or first is model.layers[0]:
        return None, None
    try:
        boundary = first.input
        trunk = keras.Model(model.inputs, boundary)
        head_input = keras.Input(shape=tuple(boundary.shape[1:]))
        head_output = _replay(model, first, head_input)
        head = keras.Model(head_input, head_output)
    except Exception as exc:  # not a clean cut: fall back to full passes
        log.info("model %s not split for MC passes (%s); running full passes", model.name, exc)
        return None, None
    return trunk, head


def _replay(model: Any, first: Any, head_input: Any) -> Any:
    """Re-apply the layers from `first` onward to `head_input`, for a chain-shaped tail.

    Refuses (ValueError) any tail layer that takes more than one input or one that consumes a
    tensor produced before `first`, since the tail would then depend on more than the cut.
    """
    layers = model.layers
    start = layers.index(first)
    produced = {id(first.input): head_input}
    current = head_input
    for layer in layers[start:]:
        inbound = layer.input
        if isinstance(inbound, (list, tuple)) or id(inbound) not in produced:
            raise ValueError(f"layer {layer.name} is not part of a single chain after the cut")
        current = layer(produced[id(inbound)])
        produced[id(layer.output)] = current
    if id(model.outputs[0]) not in {id(layers[-1].output)}:
        raise ValueError("the last layer is not the model output")
    return current
