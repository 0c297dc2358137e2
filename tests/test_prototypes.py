"""Incremental classes: a prototype model on a base model's embedding learns a class from 10 windows.

Base models trained from different seeds stand in for the same training on another CPU (another
floating-point path gives another base model): the class must be learnt on every one of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from oceanwatch.audio.features import FeatureSpec
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.registry import store
from oceanwatch.registry.manifest import parse_manifest
from oceanwatch.testing.synthetic import store_windows
from oceanwatch.training import prototypes
from oceanwatch.training.baseline import train_baseline, write_package
from oceanwatch.training.simdata import class_examples
from tests.modelkit import CLASSES, TINY_SPEC

pytestmark = pytest.mark.integration
BASE_CLASSES = ["A", "B", "D", "E"]  # C is the class operators add later
SPEC = FeatureSpec(window_seconds=6.0, n_mels=48, fmax=2000.0)
"""Fine enough to resolve the 60 Hz generator lines that tell passenger ships (C) from other large ships."""


def _store(settings: Settings, x: np.ndarray, spec: FeatureSpec = TINY_SPEC) -> list[int]:
    return [m.window_id for m in store_windows(settings, len(x), spec=spec, features=x)]


@pytest.fixture
def deterministic_ops():
    """TensorFlow ops run deterministically for the test (seeds alone leave thread-order float sums),
    then back to the default so the rest of the session is unaffected."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # the public API has no switch back

    was = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was:
        tf_config.disable_op_determinism()


def _predicted(settings: Settings, model_id: int, x: np.ndarray) -> list[str]:
    with session_scope(settings.database_url) as s:
        row = s.get(MLModel, model_id)
        loaded = LoadedModel.from_artifact(model_id, parse_manifest(row.manifest), row.artifact_path)
        names = list(row.class_names)
    return [names[p[0]] for p in loaded.predict(x.astype(np.float16).astype(np.float32)).predicted]


@pytest.fixture(scope="module")
def data():
    """Support and evaluation windows of all five classes, from a seed the base models never train on."""
    return class_examples(SPEC, CLASSES, 50, seed=11)


@pytest.fixture(scope="module")
def base_data():
    """The base models' own training windows of their four classes (400 each: with 200, some training
    seeds stop early with an embedding too weak to place a new class) and validation windows from
    another seed, so early stopping keeps the epoch that generalises best, not the one that best fits
    the training windows (as a validation slice of them would)."""
    return class_examples(SPEC, BASE_CLASSES, 400, seed=1011), class_examples(SPEC, BASE_CLASSES, 100, seed=2011)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_class_added_from_ten_windows_is_recognised_on_new_ones(
    settings: Settings, tmp_path, data, base_data, seed, deterministic_ops
) -> None:
    train, val = base_data
    # Trained to convergence (early stopping keeps the best held-out epoch): the embedding of a base
    # model that has not learnt its own classes cannot be asked to tell a new one apart.
    base = train_baseline(SPEC, BASE_CLASSES, train.x, train.y, val.x, val.y, epochs=60, seed=seed).model
    package = write_package(tmp_path / "base", base, SPEC, BASE_CLASSES, "base", "1", {})
    models_dir = settings.data_dir / "models"
    with store.open_package(package) as (keras_path, manifest):
        with session_scope(settings.database_url) as session:
            base_id = store.register(session, models_dir, keras_path, manifest)

    ids = _store(settings, data.x, SPEC)
    by_class = {c: [i for i, y in zip(ids, data.y) if CLASSES[y] == c] for c in CLASSES}
    with session_scope(settings.database_url) as session:
        proto_id = prototypes.create(
            session, models_dir, base_id, "proto", {c: by_class[c][:10] for c in ("A", "B", "D", "E")}
        )
    with session_scope(settings.database_url) as session:
        store.deploy(session, proto_id)

    with session_scope(settings.database_url) as session:
        new_id = prototypes.add_class(session, models_dir, proto_id, "C", by_class["C"][:10])
    with session_scope(settings.database_url) as s:
        new, old = s.get(MLModel, new_id), s.get(MLModel, proto_id)
        assert (new.version, new.status, new.kind, old.status) == ("2", "active", "prototype", "inactive")
        assert list(new.class_names) == ["A", "B", "C", "D", "E", "unknown"]

    unseen_c = data.x[np.array([CLASSES[y] == "C" for y in data.y])][10:]  # 40 windows the class never saw
    before = _predicted(settings, proto_id, unseen_c)
    after = _predicted(settings, new_id, unseen_c)
    assert "C" not in before
    recall = after.count("C") / len(after)
    assert recall >= 0.5, (recall, after)
    others = data.x[np.array([CLASSES[y] != "C" for y in data.y])]
    on_others = _predicted(settings, new_id, others)
    false_c = on_others.count("C") / len(others)
    assert false_c < recall / 2, ("C is recognised on its own windows far more than on the others", recall, false_c)
    # The known classes' windows lie inside their own classes' radii: "unknown" is the exception.
    assert on_others.count(prototypes.UNKNOWN) / len(others) < 0.2, on_others

    with session_scope(settings.database_url) as session:
        removed = prototypes.remove_class(session, models_dir, new_id, "A")
    with session_scope(settings.database_url) as s:
        assert list(s.get(MLModel, removed).class_names) == ["B", "C", "D", "E", "unknown"]
        assert s.scalars(select(MLModel.id).where(MLModel.name == "proto", MLModel.status == "active")).all() == [
            removed
        ]
    assert "A" not in _predicted(settings, removed, data.x)


def test_bad_prototype_requests_are_refused(settings: Settings, tmp_path) -> None:
    data = class_examples(TINY_SPEC, CLASSES, 4, seed=3)
    base = train_baseline(TINY_SPEC, CLASSES, data.x, data.y, data.x, data.y, epochs=1).model
    package = write_package(tmp_path / "base", base, TINY_SPEC, CLASSES, "base", "1", {})
    models_dir = settings.data_dir / "models"
    with store.open_package(package) as (keras_path, manifest):
        with session_scope(settings.database_url) as session:
            base_id = store.register(session, models_dir, keras_path, manifest)
    ids = _store(settings, data.x)
    with pytest.raises(prototypes.PrototypeError, match="at least 3"):
        with session_scope(settings.database_url) as session:
            prototypes.create(session, models_dir, base_id, "p", {"A": ids[:2]})
    with pytest.raises(prototypes.PrototypeError, match="without features"):
        with session_scope(settings.database_url) as session:
            prototypes.create(session, models_dir, base_id, "p", {"A": [10**9, 10**9 + 1, 10**9 + 2]})
    with session_scope(settings.database_url) as session:
        proto = prototypes.create(session, models_dir, base_id, "p", {"A": ids[:4]})
    with pytest.raises(prototypes.PrototypeError, match="unknown"):
        with session_scope(settings.database_url) as session:
            prototypes.add_class(session, models_dir, proto, "unknown", ids[:4])
    with pytest.raises(prototypes.PrototypeError, match="last class"):
        with session_scope(settings.database_url) as session:
            prototypes.remove_class(session, models_dir, proto, "A")
    with pytest.raises(prototypes.PrototypeError, match="not a prototype"):
        with session_scope(settings.database_url) as session:
            prototypes.add_class(session, models_dir, base_id, "C", ids[:4])


def test_operators_manage_prototype_classes_through_the_api(settings: Settings, tmp_path) -> None:
    from app import create_app
    from tests.webkit import make_token, make_user

    data = class_examples(TINY_SPEC, CLASSES, 4, seed=5)
    base = train_baseline(TINY_SPEC, CLASSES, data.x, data.y, data.x, data.y, epochs=1).model
    package = write_package(tmp_path / "base", base, TINY_SPEC, CLASSES, "base", "1", {})
    with store.open_package(package) as (keras_path, manifest):
        with session_scope(settings.database_url) as session:
            base_id = store.register(session, settings.data_dir / "models", keras_path, manifest)
    ids = _store(settings, data.x)
    client = create_app(settings=settings).test_client()
    operator = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'op', 'operator'))}"}
    viewer = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'view', 'viewer'))}"}
    body = {"base_model_id": base_id, "name": "proto", "classes": {"A": ids[:4]}}

    assert client.post("/api/v1/prototypes", json=body, headers=viewer).status_code == 403
    assert (
        client.post("/api/v1/prototypes", json={**body, "classes": {"A": ids[:1]}}, headers=operator).status_code == 400
    )
    created = client.post("/api/v1/prototypes", json=body, headers=operator)
    assert created.status_code == 201
    first = created.get_json()["model_id"]
    added = client.post(
        f"/api/v1/prototypes/{first}/classes", json={"code": "B", "window_ids": ids[4:8]}, headers=operator
    )
    assert added.status_code == 201
    second = added.get_json()["model_id"]
    removed = client.delete(f"/api/v1/prototypes/{second}/classes/A", headers=operator)
    assert removed.status_code == 201
    with session_scope(settings.database_url) as s:
        assert list(s.get(MLModel, second).class_names) == ["A", "B", "unknown"]
        assert list(s.get(MLModel, removed.get_json()["model_id"]).class_names) == ["B", "unknown"]
    assert client.delete(f"/api/v1/prototypes/{base_id}/classes/A", headers=operator).status_code == 400
