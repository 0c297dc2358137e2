"""Simulator training sets and the baseline training command end to end (tiny sizes)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import select

from oceanwatch.audio.features import DEFAULT_SPEC
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel
from oceanwatch.geo import distance_m
from oceanwatch.sim.scenario import DEFAULT_SITE, Scenario
from oceanwatch.training.simdata import class_examples, scenario_examples
from oceanwatch.truth.shipclasses import default_class

CLASSES = ["A", "B", "C", "D", "E"]


def test_class_examples_are_balanced_features_of_the_spec() -> None:
    data = class_examples(DEFAULT_SPEC, CLASSES, per_class=3, seed=1)
    assert data.x.shape == (15, *DEFAULT_SPEC.input_shape) and data.x.dtype == np.float32
    assert np.bincount(data.y, minlength=5).tolist() == [3] * 5
    assert np.isfinite(data.x).all()
    again = class_examples(DEFAULT_SPEC, CLASSES, per_class=3, seed=1)
    assert np.array_equal(again.y, data.y) and np.allclose(again.x, data.x), "seeded: reproducible"


def test_scenario_examples_are_labelled_by_radius_and_buffer() -> None:
    scenario = Scenario(seed=1001, vessels_per_hour=1.0)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    data = scenario_examples(DEFAULT_SPEC, scenario, DEFAULT_SITE, start, 1.0, CLASSES, stride=8)
    assert len(data.y) == len(data.x) > 0
    hop = DEFAULT_SPEC.window_seconds * 0.75
    kept = 0
    for k in range(0, int(3600 / hop), 8):  # recompute the labels independently, at window midpoints
        t0 = start.timestamp() + k * hop
        near = [
            (float(np.min(distance_m(DEFAULT_SITE, *v.track(np.linspace(t0, t0 + 30, 7))))), default_class(v.ship_type))
            for v in scenario.vessels_between(t0, t0 + 30)
        ]
        inside = {c for d, c in near if d <= 20_000}
        if any(20_000 < d <= 30_000 for d, _ in near) or len(inside) > 1:
            continue
        assert data.y[kept] == CLASSES.index(inside.pop() if inside else "E")
        kept += 1
    assert kept == len(data.y)


@pytest.mark.integration
def test_training_command_registers_and_deploys_once(settings: Settings) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "LOG_FORMAT": "text",
    }
    argv = [
        sys.executable,
        "-m",
        "oceanwatch.training",
        "--per-class",
        "6",
        "--epochs",
        "1",
        "--eval-hours",
        "1",
        "--scenario-hours",
        "0.5",
        "--if-absent",
        "--register",
        "--deploy",
    ]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert 0.0 <= summary["held_out_macro_f1"] <= 1.0
    with session_scope(settings.database_url) as s:
        model = s.scalars(select(MLModel).where(MLModel.name == "baseline")).one()
        assert model.status == "active" and model.mc_passes == 10
        assert model.manifest["evaluation"]["held_out_scenario"]["n"] > 0
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and "already registered" in second.stderr
    with session_scope(settings.database_url) as s:
        assert len(s.scalars(select(MLModel)).all()) == 1
