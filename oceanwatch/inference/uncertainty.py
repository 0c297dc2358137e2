"""Predictive uncertainty from several stochastic passes (MC dropout), as pure numpy.

For multi-class models with pass probabilities p_t (T passes, C classes):
  total     H[mean_t p_t]                  (predictive entropy)
  aleatoric mean_t H[p_t]                  (expected entropy: noise in the data)
  epistemic total - aleatoric              (mutual information: what the model does not know)
all divided by log(C) so they lie in [0, 1] whatever the number of classes.  Multi-label
models are C independent Bernoulli outputs: the same decomposition per class with binary
entropy, averaged over classes and divided by log(2).  With one pass, epistemic is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-12


@dataclass(frozen=True)
class Uncertainty:
    """Per-window summary of T passes (arrays of length N windows; `mean` is N x C)."""

    mean: np.ndarray
    predicted: list[list[int]]
    confidence: np.ndarray
    entropy: np.ndarray
    epistemic: np.ndarray
    aleatoric: np.ndarray


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    return -np.sum(p * np.log(np.clip(p, _EPS, 1.0)), axis=axis)


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return -(q * np.log(q) + (1.0 - q) * np.log(1.0 - q))


def summarize(passes: np.ndarray, task: str, threshold: float = 0.5) -> Uncertainty:
    """Summarise pass probabilities of shape (T, N, C) into predictions and uncertainty."""
    if passes.ndim != 3:
        raise ValueError(f"expected (passes, windows, classes), got shape {passes.shape}")
    probs = passes.astype(np.float64)
    mean = probs.mean(axis=0)
    n_classes = probs.shape[2]
    if task == "multi_class":
        norm = np.log(n_classes)
        total = _entropy(mean) / norm
        aleatoric = _entropy(probs).mean(axis=0) / norm
        predicted = [[int(i)] for i in mean.argmax(axis=1)]
        confidence = mean.max(axis=1)
    elif task == "multi_label":
        norm = np.log(2.0)
        total = _binary_entropy(mean).mean(axis=1) / norm
        aleatoric = _binary_entropy(probs).mean(axis=(0, 2)) / norm
        predicted = [[int(i) for i in np.flatnonzero(row >= threshold)] for row in mean]
        confidence = np.maximum(mean, 1.0 - mean).mean(axis=1)
    else:
        raise ValueError(f"unknown task {task!r}")
    epistemic = np.clip(total - aleatoric, 0.0, None)
    return Uncertainty(
        mean=mean, predicted=predicted, confidence=confidence, entropy=total, epistemic=epistemic, aleatoric=aleatoric
    )
