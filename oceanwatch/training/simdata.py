"""Labelled feature sets from the simulator: balanced examples to train on, a scenario to test on.

Training examples are drawn per class (one vessel at a random range within the truth
radius, or ambient only for the background class - sometimes with a distant vessel beyond
the buffer, as a real background window has). The held-out test is different in kind: a
stretch of a scenario with another seed, its windows labelled by the same radius-and-buffer
rule the live truth labeller uses, so the reported macro-F1 is what the live page would show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from oceanwatch.audio.features import FeatureSpec, compute_batch
from oceanwatch.geo import Site, distance_m
from oceanwatch.sim.acoustics import render_sources, sample_source, synthesize
from oceanwatch.sim.scenario import Scenario
from oceanwatch.truth.labelling import split_by_radius
from oceanwatch.truth.shipclasses import BACKGROUND_CLASS, default_class

CHUNK = 64  # windows per feature batch: bounded memory, vectorised FFTs


@dataclass(frozen=True)
class LabelledSet:
    x: np.ndarray  # (n, *spec.input_shape) float32
    y: np.ndarray  # (n,) int class indices
    class_names: list[str]


def _features(spec: FeatureSpec, audio: list[np.ndarray]) -> np.ndarray:
    out = [
        compute_batch(spec, np.stack(audio[i : i + CHUNK])[:, :, None], spec.sample_rate)
        for i in range(0, len(audio), CHUNK)
    ]
    return np.concatenate(out) if out else np.zeros((0, *spec.input_shape), np.float32)


def class_examples(
    spec: FeatureSpec,
    class_names: list[str],
    per_class: int,
    seed: int,
    radius_m: float = 20_000.0,
    buffer_m: float = 10_000.0,
) -> LabelledSet:
    """`per_class` synthetic windows of each class, shuffled."""
    rng = np.random.default_rng(seed)
    vessel_classes = [c for c in class_names if c != BACKGROUND_CLASS]
    audio, labels = [], []
    for index, code in enumerate(class_names):
        for _ in range(per_class):
            if code == BACKGROUND_CLASS:
                far = rng.random() < 0.5
                sources = (
                    [sample_source(str(rng.choice(vessel_classes)), rng, radius_m + buffer_m, radius_m + 2 * buffer_m)]
                    if far
                    else []
                )
            else:
                sources = [sample_source(code, rng, max_range_m=radius_m)]
            audio.append(render_sources(sources, spec.window_seconds, spec.sample_rate, rng))
            labels.append(index)
    order = rng.permutation(len(labels))
    return LabelledSet(_features(spec, [audio[i] for i in order]), np.asarray(labels)[order], class_names)


def scenario_examples(
    spec: FeatureSpec,
    scenario: Scenario,
    site: Site,
    start: dt.datetime,
    hours: float,
    class_names: list[str],
    radius_m: float = 20_000.0,
    buffer_m: float = 10_000.0,
    seed: int = 0,
    stride: int = 2,
) -> LabelledSet:
    """Every `stride`-th window of a scenario stretch, scored like live truth: one class or background."""
    rng = np.random.default_rng(seed)
    hop = spec.window_seconds * 0.75
    audio, labels = [], []
    for k in range(0, int(hours * 3600 / hop), stride):
        t0 = start.timestamp() + k * hop
        times = np.linspace(t0, t0 + spec.window_seconds, 7)
        closest, classes = {}, {}
        for vessel in scenario.vessels_between(t0, t0 + spec.window_seconds):
            lat, lon = vessel.track(times)
            closest[vessel.mmsi] = float(np.min(distance_m(site, lat, lon)))
            classes[vessel.mmsi] = default_class(vessel.ship_type)
        inside, buffer = split_by_radius(closest, radius_m, buffer_m)
        present = {classes[m] for m in inside}
        if buffer or None in present or len(present) > 1:
            continue  # ambiguous or several classes: not scored for a multi-class model
        code = present.pop() if present else BACKGROUND_CLASS
        if code not in class_names:
            continue
        when = dt.datetime.fromtimestamp(t0, dt.timezone.utc)
        audio.append(
            synthesize(scenario, site.latitude, site.longitude, when, spec.window_seconds, spec.sample_rate, rng)
        )
        labels.append(class_names.index(code))
    return LabelledSet(_features(spec, audio), np.asarray(labels, dtype=int), class_names)


def merge_sets(*sets: LabelledSet, seed: int = 0) -> LabelledSet:
    """One shuffled set from several with the same classes."""
    order = np.random.default_rng(seed).permutation(sum(len(s.y) for s in sets))
    return LabelledSet(
        np.concatenate([s.x for s in sets])[order], np.concatenate([s.y for s in sets])[order], sets[0].class_names
    )
