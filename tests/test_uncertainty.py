"""Uncertainty decomposition: checked against hand-computed values and its defining properties."""

import math

import numpy as np
import pytest

from oceanwatch.inference.uncertainty import summarize


def test_confident_agreeing_passes_have_no_uncertainty() -> None:
    passes = np.tile(np.array([[[1.0, 0.0, 0.0]]]), (5, 1, 1))
    u = summarize(passes, "multi_class")
    assert u.predicted == [[0]] and u.confidence[0] == pytest.approx(1.0)
    assert u.entropy[0] == pytest.approx(0.0, abs=1e-9) and u.epistemic[0] == pytest.approx(0.0, abs=1e-9)


def test_disagreeing_confident_passes_are_epistemic() -> None:
    """Each pass is sure, but of a different class: all uncertainty is the model's (mutual information)."""
    passes = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    u = summarize(passes, "multi_class")
    assert u.entropy[0] == pytest.approx(1.0)  # log 2 / log 2
    assert u.aleatoric[0] == pytest.approx(0.0, abs=1e-9)
    assert u.epistemic[0] == pytest.approx(1.0)


def test_agreeing_uniform_passes_are_aleatoric() -> None:
    passes = np.full((4, 1, 4), 0.25)
    u = summarize(passes, "multi_class")
    assert u.entropy[0] == pytest.approx(1.0) and u.aleatoric[0] == pytest.approx(1.0)
    assert u.epistemic[0] == pytest.approx(0.0, abs=1e-9)


def test_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3, 5))
    p = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    u = summarize(p, "multi_class")
    for n in range(3):
        mean = p[:, n].mean(axis=0)
        total = -(mean * np.log(mean)).sum() / math.log(5)
        alea = np.mean([-(pt * np.log(pt)).sum() for pt in p[:, n]]) / math.log(5)
        assert u.entropy[n] == pytest.approx(total)
        assert u.aleatoric[n] == pytest.approx(alea)
        assert u.epistemic[n] == pytest.approx(total - alea)
        assert u.predicted[n] == [int(mean.argmax())]


def test_multi_label_uses_thresholds_and_binary_entropy() -> None:
    passes = np.array([[[0.9, 0.2, 0.6]], [[0.7, 0.0, 0.4]]])
    u = summarize(passes, "multi_label")
    assert u.predicted == [[0, 2]]  # means 0.8, 0.1, 0.5
    assert 0.0 < u.entropy[0] <= 1.0 and u.epistemic[0] >= 0.0
    assert u.confidence[0] == pytest.approx((0.8 + 0.9 + 0.5) / 3)


def test_bad_shapes_and_tasks_are_refused() -> None:
    with pytest.raises(ValueError):
        summarize(np.zeros((3, 4)), "multi_class")
    with pytest.raises(ValueError):
        summarize(np.zeros((1, 1, 2)), "regression")
