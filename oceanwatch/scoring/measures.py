"""Scores from tallies: confusion matrices, precision/recall/F1, calibration, AUROC (pure numpy).

The database hands over a few hundred rows of counts however many windows are scored; these
functions turn them into the numbers the pages and the API show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(pairs: Sequence[tuple[str, str, int]], classes: Sequence[str]) -> np.ndarray:
    """K x K counts (rows truth, columns prediction) from (truth, predicted, count) tallies."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for truth, predicted, count in pairs:
        if truth in index and predicted in index:
            matrix[index[truth], index[predicted]] += count
    return matrix


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 per class; 0 where undefined (as scikit-learn's zero_division=0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def _summary(
    classes: Sequence[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, support: np.ndarray, only_present: bool
) -> dict[str, Any]:
    """Per-class and macro/weighted averages.

    Macro averages run over the classes seen in truth or prediction when `only_present`
    (single-label scoring) and over every class otherwise (label sets), as scikit-learn does.
    """
    precision, recall, f1 = _prf(tp, fp, fn)
    present = (support + fp) > 0 if only_present else np.ones(len(classes), dtype=bool)
    weights = support / support.sum() if support.sum() else np.zeros_like(support, dtype=float)

    def avg(values: np.ndarray) -> dict[str, float]:
        return {
            "macro": float(values[present].mean()) if present.any() else 0.0,
            "weighted": float((values * weights).sum()),
        }

    return {
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "precision": avg(precision),
        "recall": avg(recall),
        "f1": avg(f1),
    }


def multiclass_scores(matrix: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class and averaged precision/recall/F1, support, and the matrix itself."""
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    fp = matrix.sum(axis=0) - tp
    fn = support - tp
    total = int(matrix.sum())
    return {
        "n": total,
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "classes": list(classes),
        "confusion": matrix.tolist(),
        **_summary(classes, tp, fp, fn, support, only_present=True),
    }


def multilabel_scores(
    tallies: dict[str, tuple[int, int, int]], n: int, exact: int, classes: Sequence[str]
) -> dict[str, Any]:
    """Scores from per-class (tp, fp, fn) tallies over n label sets, `exact` of them predicted exactly."""
    tp, fp, fn = (np.array([tallies.get(c, (0, 0, 0))[k] for c in classes], dtype=float) for k in range(3))
    micro_p, micro_r, micro_f1 = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    return {
        "n": n,
        "subset_accuracy": exact / n if n else 0.0,
        "classes": list(classes),
        "micro": {"precision": float(micro_p[0]), "recall": float(micro_r[0]), "f1": float(micro_f1[0])},
        **_summary(classes, tp, fp, fn, tp + fn, only_present=False),
    }


def calibration_scores(bins: Sequence[tuple[int, int, float, int]], n_bins: int) -> dict[str, Any]:
    """Reliability bins and expected calibration error from (bin, count, sum_confidence, correct) rows."""
    total = sum(count for _, count, _, _ in bins)
    table, ece = [], 0.0
    for b, count, conf_sum, correct in sorted(bins):
        confidence, accuracy = conf_sum / count, correct / count
        ece += count / total * abs(accuracy - confidence)
        table.append(
            {
                "bin": b,
                "lower": (b - 1) / n_bins,
                "upper": b / n_bins,
                "count": count,
                "confidence": confidence,
                "accuracy": accuracy,
            }
        )
    return {"n": total, "ece": ece if total else 0.0, "bins": table}


def auroc_from_groups(groups: Sequence[tuple[float, int, int]]) -> float | None:
    """AUROC of a score separating errors from correct predictions, from (value, errors, correct) tie groups.

    Mann-Whitney with ties counted half: the probability that a random error scores above a
    random correct prediction. None when either side is empty.
    """
    errors = sum(e for _, e, _ in groups)
    correct = sum(c for _, _, c in groups)
    if not errors or not correct:
        return None
    below, area = 0, 0.0
    for _, e, c in sorted(groups):
        area += e * (below + c / 2)
        below += c
    return area / (errors * correct)
