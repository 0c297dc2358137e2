"""Model registry: manifest validation, unsafe and mismatched models refused, versions and deployment."""

import json
import os
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from oceanwatch.audio.features import FeatureSpec
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AuditLog, MLModel
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.registry import store
from oceanwatch.registry.artifact import ArtifactError
from oceanwatch.registry.manifest import ManifestError, parse_manifest
from tests.modelkit import TINY_SPEC, manifest, tiny_model, write_package


def test_manifest_lists_every_problem() -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(
            {
                "name": "Bad Name",
                "task": "regression",
                "class_names": ["A"],
                "feature_spec": {"n_mels": 0},
                "uncertainty": {"method": "mc_dropout", "passes": 1},
            }
        )
    text = str(err.value)
    for field in ("name", "version", "task", "class_names", "feature_spec", "uncertainty.passes"):
        assert field in text


def test_manifest_round_trips() -> None:
    parsed = parse_manifest(manifest())
    assert parsed.passes == 8 and parsed.feature_spec == TINY_SPEC
    assert parse_manifest(parsed.to_dict()) == parsed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lambda_layer=True), "Lambda layer"),
    ],
)
def test_unsafe_models_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    write_package(tmp_path, tiny_model(**kwargs), manifest())
    with pytest.raises(ArtifactError, match=message):
        store.validate(tmp_path / "model.keras", manifest())


def test_custom_objects_are_refused(tmp_path: Path) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="evil")
    class Doubler(keras.layers.Layer):
        def call(self, z):
            return z * 2

    inp = keras.Input(TINY_SPEC.input_shape)
    x = keras.layers.GlobalAveragePooling2D()(Doubler()(inp))
    write_package(tmp_path, keras.Model(inp, keras.layers.Dense(5, activation="softmax")(x)), manifest())
    with pytest.raises(ArtifactError, match="'evil>Doubler' is a custom object"):
        store.validate(tmp_path / "model.keras", manifest())


def _softmax_model_with_activation_layer():
    import keras

    inp = keras.Input(TINY_SPEC.input_shape)
    x = keras.layers.Dense(5, name="logits")(keras.layers.GlobalAveragePooling2D()(inp))
    return keras.Model(inp, keras.layers.Activation("softmax", name="sharpened")(x))


def _rewrite_config(path: Path, edit: Callable[[dict], None]) -> None:
    """Edit config.json inside a saved `.keras` archive, as someone crafting a hostile file would."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _layer(config: dict, class_name: str) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == class_name)


def _hide_lambda_in_activation(config: dict) -> None:
    import keras

    with warnings.catch_warnings():  # Keras warns that serialising a lambda is unsafe: that is the point
        warnings.simplefilter("ignore")
        payload = keras.saving.serialize_keras_object(lambda z: z * 2.0)
    assert payload["class_name"] == "__lambda__"
    _layer(config, "Activation")["config"]["activation"] = payload


def _evil_module(config: dict) -> None:
    _layer(config, "Dense")["module"] = "keras_evil.layers"


@pytest.mark.parametrize(
    "edit, message",
    [
        (_hide_lambda_in_activation, "layer 'sharpened' holds a serialised Python lambda"),
        (_evil_module, "'Dense' is a custom object from module 'keras_evil.layers' in layer 'logits'"),
    ],
)
def test_crafted_configs_are_refused_before_keras_sees_them(tmp_path: Path, edit: Callable, message: str) -> None:
    write_package(tmp_path, _softmax_model_with_activation_layer(), manifest())
    _rewrite_config(tmp_path / "model.keras", edit)
    with pytest.raises(ArtifactError, match="refused: the model needs arbitrary code") as refused:
        store.validate(tmp_path / "model.keras", manifest())
    assert message in str(refused.value)


def test_a_lambda_activation_as_keras_saves_it_is_refused(tmp_path: Path) -> None:
    import keras

    inp = keras.Input(TINY_SPEC.input_shape)
    x = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(inp))
    model = keras.Model(inp, keras.layers.Activation(lambda z: z * 2.0, name="sharpened")(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_package(tmp_path, model, manifest())  # Keras writes the bare {"value": [code, ...]} form
    with pytest.raises(ArtifactError, match="layer 'sharpened' holds a serialised Python lambda"):
        store.validate(tmp_path / "model.keras", manifest())


def test_not_a_keras_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.keras").write_bytes(b"definitely not a zip")
    with pytest.raises(ArtifactError, match="not a Keras 3"):
        store.validate(tmp_path / "model.keras", manifest())


@pytest.mark.parametrize(
    "model_kwargs, manifest_kwargs, message",
    [
        ({}, dict(spec=FeatureSpec(window_seconds=3.0, n_mels=32)), "input shape"),
        (dict(n_classes=4), {}, "output shape"),
        (dict(activation="sigmoid"), {}, "softmax"),
        (dict(dropout=0.0), {}, "dropout layer"),
    ],
)
def test_mismatched_models_are_refused(tmp_path: Path, model_kwargs: dict, manifest_kwargs: dict, message: str) -> None:
    data = manifest(**manifest_kwargs)
    write_package(tmp_path, tiny_model(**model_kwargs), data)
    with pytest.raises(ArtifactError, match=message):
        store.validate(tmp_path / "model.keras", data)


def test_multi_label_with_sigmoid_is_accepted(tmp_path: Path) -> None:
    data = manifest(task="multi_label")
    write_package(tmp_path, tiny_model(activation="sigmoid"), data)
    assert store.validate(tmp_path / "model.keras", data).task == "multi_label"


@pytest.mark.integration
def test_register_versions_deploy_deactivate_reactivate_rollback(settings: Settings, tmp_path: Path) -> None:
    url, models_dir = settings.database_url, settings.data_dir / "models"
    ids = []
    for version in ("1", "2"):
        pkg = write_package(tmp_path / version, tiny_model(seed=int(version)), manifest(version=version))
        with session_scope(url) as session:
            ids.append(
                store.register(session, models_dir, pkg / "model.keras", manifest(version=version), user_id=None)
            )
    with pytest.raises(store.RegistryError, match="already registered"):
        with session_scope(url) as session:
            store.register(session, models_dir, tmp_path / "1" / "model.keras", manifest(version="1"))

    with session_scope(url) as session:
        store.deploy(session, ids[0])
    with session_scope(url) as session:
        store.deploy(session, ids[1])  # deploying v2 retires v1: one active version per name
    with session_scope(url) as s:
        status = dict(s.execute(select(MLModel.version, MLModel.status)).all())
        v2 = s.get(MLModel, ids[1])
        assert Path(v2.artifact_path).is_file() and v2.sha256 == store.sha256_file(Path(v2.artifact_path))
        assert v2.feature_spec_hash == TINY_SPEC.hash and v2.mc_passes == 8
    assert status == {"1": "inactive", "2": "active"}

    with session_scope(url) as session:
        assert store.rollback(session, "tiny") == ids[0]
    with session_scope(url) as session:
        store.deactivate(session, ids[0])
    with pytest.raises(store.RegistryError, match="not active"):
        with session_scope(url) as session:
            store.deactivate(session, ids[0])
    with session_scope(url) as session:
        store.deploy(session, ids[0])
    with session_scope(url) as s:
        actions = s.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == [
        "model.register",
        "model.register",
        "model.deploy",
        "job.enqueue",
        "model.deactivate",
        "model.deploy",
        "job.enqueue",
        "model.deactivate",
        "model.rollback",
        "job.enqueue",
        "model.deactivate",
        "model.reactivate",
        "job.enqueue",
    ]  # each deploy queues its catch-up


@pytest.mark.integration
def test_tampered_artifact_cannot_be_deployed(settings: Settings, tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p", tiny_model(), manifest())
    with session_scope(settings.database_url) as session:
        model_id = store.register(session, settings.data_dir / "models", pkg / "model.keras", manifest())
    with session_scope(settings.database_url) as s:
        path = Path(s.get(MLModel, model_id).artifact_path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(store.RegistryError, match="checksum"):
        with session_scope(settings.database_url) as session:
            store.deploy(session, model_id)


@pytest.mark.integration
def test_cli_registers_a_zip_package(settings: Settings, tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "p", tiny_model(), manifest(name="zipped"))
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(pkg / "model.keras", "zipped/model.keras")
        z.write(pkg / "manifest.json", "zipped/manifest.json")
    env = {**os.environ, "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "oceanwatch.registry", "register", str(archive), "--deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "oceanwatch.registry", "list"], env=env, capture_output=True, text=True, timeout=60
    ).stdout
    assert "zipped 1  multi_class  active" in listing
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({}))
    refused = subprocess.run(
        [sys.executable, "-m", "oceanwatch.registry", "register", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "directory or a .zip" in refused.stderr


def test_runtime_split_matches_full_model_and_freezes_batchnorm() -> None:
    model = tiny_model(dropout=0.0000001)
    x = np.random.default_rng(1).normal(size=(5, *TINY_SPEC.input_shape)).astype(np.float32)
    reference = np.asarray(model(x, training=False))
    loaded = LoadedModel(1, parse_manifest(manifest(passes=4)), model)
    assert loaded.split
    passes = loaded.pass_probabilities(x)
    assert passes.shape == (4, 5, 5)
    np.testing.assert_allclose(passes, np.broadcast_to(reference, passes.shape), atol=1e-5)


def test_runtime_falls_back_when_a_skip_connection_jumps_the_dropout() -> None:
    model = tiny_model(skip_over_dropout=True, dropout=0.5)
    loaded = LoadedModel(1, parse_manifest(manifest(passes=16)), model)
    assert not loaded.split
    x = np.random.default_rng(2).normal(size=(3, *TINY_SPEC.input_shape)).astype(np.float32)
    passes = loaded.pass_probabilities(x)
    assert passes.shape == (16, 3, 5)
    assert passes.std(axis=0).max() > 0, "MC dropout passes must differ"
    u = loaded.predict(x)
    assert np.allclose(u.mean.sum(axis=1), 1.0) and (u.epistemic > 0).all()
