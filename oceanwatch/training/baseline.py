"""The baseline ship classifier: a small CNN on log-mel spectrograms, with dropout for MC uncertainty.

Small on purpose.  Strided convolutions shrink the 160x128 input fast (about 17 M multiply-adds
per window), so several models fit live on two cores.  The dropout layers sit after global
pooling, so the registry runtime runs the trunk once and only the head per MC pass.  Only
built-in Keras layers are used, so the saved model loads in safe mode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oceanwatch.audio.features import FeatureSpec


def build_baseline(
    spec: FeatureSpec,
    n_classes: int,
    dropout: float = 0.3,
    width: int = 16,
    normalization: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
) -> Any:
    """The CNN, with an input normalisation layer fixed to the training mean and variance."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(spec.input_shape, name="logmel")
    if normalization is not None:
        mean, var = normalization
        x = layers.Normalization(axis=-1, mean=mean, variance=var, name="standardize")(inputs)
    else:
        x = layers.Normalization(
            axis=-1, mean=np.zeros(spec.channels), variance=np.ones(spec.channels), name="standardize"
        )(inputs)
    for i, (filters, kernel) in enumerate([(width, 5), (2 * width, 3), (4 * width, 3), (4 * width, 3)]):
        x = layers.Conv2D(filters, kernel, strides=2, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)  # settles within a short fine-tune
        x = layers.ReLU(name=f"relu{i}")(x)
    pooled = layers.Concatenate(name="pool")(
        [layers.GlobalAveragePooling2D(name="gap")(x), layers.GlobalMaxPooling2D(name="gmp")(x)]
    )
    x = layers.Dropout(dropout, name="drop0")(pooled)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="drop1")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="baseline_cnn")


@dataclass(frozen=True)
class TrainResult:
    model: Any
    history: dict[str, list[float]]
    report: dict[str, Any]


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of a feature batch (N, frames, mels, channels)."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return flat.mean(axis=0), flat.var(axis=0) + 1e-6


def train_baseline(
    spec: FeatureSpec,
    class_names: list[str],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    epochs: int = 12,
    batch_size: int = 32,
    dropout: float = 0.3,
    seed: int = 0,
    callbacks: list[Any] | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train with class weights (the classes are unbalanced) and keep the best validation epoch."""
    import keras

    model = build_baseline(spec, len(class_names), dropout=dropout, normalization=channel_stats(x_train), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    counts = np.bincount(y_train, minlength=len(class_names)).astype(float)
    weights = {i: float(len(y_train) / (len(class_names) * c)) for i, c in enumerate(counts) if c > 0}
    best = keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
    fit = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        class_weight=weights,
        callbacks=[best, *(callbacks or [])],
        verbose=verbose,
        shuffle=True,
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return TrainResult(model, history, evaluate(model, class_names, x_val, y_val))


def evaluate(model: Any, class_names: list[str], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix on a labelled set (scikit-learn's definitions)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    if len(y) == 0:
        raise ValueError("nothing to evaluate on: the labelled set is empty")
    predicted = np.asarray(model.predict(x, verbose=0, batch_size=128)).argmax(axis=1)
    labels = list(range(len(class_names)))
    seen = sorted(set(y.tolist()) | set(predicted.tolist()))  # macro over classes present, as live metrics do
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=seen, average="macro", zero_division=0)),
        "per_class_f1": dict(
            zip(class_names, (float(v) for v in f1_score(y, predicted, labels=labels, average=None, zero_division=0)))
        ),
        "confusion": confusion_matrix(y, predicted, labels=labels).tolist(),
        "support": dict(zip(class_names, (int(v) for v in np.bincount(y, minlength=len(class_names))))),
    }


def write_package(
    directory: Path,
    model: Any,
    spec: FeatureSpec,
    class_names: list[str],
    name: str,
    version: str,
    report: dict[str, Any],
    passes: int = 10,
    owner: str = "oceanwatch",
    description: str = "Baseline CNN on log-mel spectrograms, trained on the simulator",
) -> Path:
    """model.keras + manifest.json, the package the registry accepts."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    manifest = {
        "name": name,
        "version": version,
        "task": "multi_class",
        "class_names": class_names,
        "feature_spec": spec.to_dict(),
        "uncertainty": {"method": "mc_dropout", "passes": passes},
        "description": description,
        "owner": owner,
        "evaluation": report,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return directory
