"""The model page and the models API: upload with validation, deploy/deactivate/reactivate/rollback, audit."""

import io
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app import MAX_UPLOAD_BYTES, create_app
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AuditLog, MLModel
from tests.modelkit import manifest, tiny_model, write_package
from tests.webkit import csrf_token, logged_in, make_token, make_user

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return write_package(tmp_path_factory.mktemp("pkg"), tiny_model(), manifest())


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings)


def _files(package: Path, manifest_data: dict) -> dict:
    return {
        "model": (io.BytesIO((package / "model.keras").read_bytes()), "model.keras"),
        "manifest": (io.BytesIO(json.dumps(manifest_data).encode()), "manifest.json"),
    }


def _statuses(settings: Settings) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        return dict(session.execute(select(MLModel.version, MLModel.status)).all())


def test_upload_deploy_deactivate_reactivate_and_rollback_on_the_page(app, settings: Settings, package: Path) -> None:
    operator = logged_in(app, settings, "operator")
    token = csrf_token(operator, "/models/")
    for version in ("1", "2"):
        uploaded = operator.post(
            "/models/upload",
            data={"csrf_token": token, **_files(package, manifest(version=version))},
            content_type="multipart/form-data",
        )
        assert uploaded.status_code == 303
    page = operator.get("/models/").get_data(as_text=True)
    assert "Validated and registered model" in page and "tiny" in page
    with session_scope(settings.database_url) as session:
        ids = dict(session.execute(select(MLModel.version, MLModel.id)).all())
    assert _statuses(settings) == {"1": "registered", "2": "registered"}

    assert operator.post(f"/models/{ids['1']}/deploy", data={"csrf_token": token}).status_code == 303
    assert operator.post(f"/models/{ids['2']}/deploy", data={"csrf_token": token}).status_code == 303
    assert _statuses(settings) == {"1": "inactive", "2": "active"}
    operator.post(f"/models/{ids['2']}/rollback", data={"csrf_token": token})
    assert _statuses(settings) == {"1": "active", "2": "inactive"}
    operator.post(f"/models/{ids['1']}/deactivate", data={"csrf_token": token})
    assert _statuses(settings) == {"1": "inactive", "2": "inactive"}
    operator.post(f"/models/{ids['2']}/reactivate", data={"csrf_token": token})
    assert _statuses(settings) == {"1": "inactive", "2": "active"}

    page = operator.get("/models/").get_data(as_text=True)
    for action in ("model.register", "model.deploy", "model.rollback", "model.deactivate", "model.reactivate"):
        assert action in page
    assert "operator-user" in page  # the audit trail names who did it
    wrong = operator.post(f"/models/{ids['1']}/deactivate", data={"csrf_token": token}, follow_redirects=True)
    assert "is not active" in wrong.get_data(as_text=True)


def test_invalid_uploads_show_every_problem_and_store_nothing(app, settings: Settings, package: Path) -> None:
    operator = logged_in(app, settings, "operator")
    token = csrf_token(operator, "/models/")
    bad = manifest()
    bad.update(name="Bad Name", task="regression")
    response = operator.post(
        "/models/upload", data={"csrf_token": token, **_files(package, bad)}, content_type="multipart/form-data"
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "Validation failed" in text
    assert "name:" in text and "task:" in text
    wrong_classes = manifest(classes=["A", "B", "C"])  # the model has 5 outputs
    response = operator.post(
        "/models/upload",
        data={"csrf_token": token, **_files(package, wrong_classes)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    empty = operator.post("/models/upload", data={"csrf_token": token}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "send a .zip package" in empty.get_data(as_text=True)
    assert _statuses(settings) == {}
    with session_scope(settings.database_url) as session:
        rejections = session.scalars(select(AuditLog).where(AuditLog.action == "model.upload_rejected")).all()
    assert len(rejections) == 3 and all(r.user_id is not None and r.details["problems"] for r in rejections)
    assert "model.upload_rejected" in operator.get("/models/").get_data(as_text=True)


def test_models_api_with_a_token(app, settings: Settings, package: Path) -> None:
    token = make_token(settings, make_user(settings, "bot", "operator"))
    auth = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    created = client.post(
        "/api/v1/models", headers=auth, data=_files(package, manifest(version="7")), content_type="multipart/form-data"
    )
    assert created.status_code == 201 and created.json["validation"] == "ok"
    model_id = created.json["id"]
    duplicate = client.post(
        "/api/v1/models", headers=auth, data=_files(package, manifest(version="7")), content_type="multipart/form-data"
    )
    assert duplicate.status_code == 400 and "already registered" in duplicate.json["problems"][0]
    deployed = client.post(f"/api/v1/models/{model_id}/deploy", headers=auth)
    assert deployed.status_code == 200 and deployed.json["active_model_id"] == model_id
    listing = client.get("/api/v1/models", headers=auth).json["models"]
    assert [(m["id"], m["status"], m["healthy"], m["owner"]) for m in listing] == [(model_id, "active", True, "tests")]
    detail = client.get(f"/api/v1/models/{model_id}", headers=auth).json
    assert detail["model"]["manifest"]["name"] == "tiny"
    assert [a["action"] for a in detail["audit"]] == ["model.deploy", "model.register"]
    assert all(a["user"] == "bot" for a in detail["audit"])
    assert client.post(f"/api/v1/models/{model_id}/explode", headers=auth).status_code == 409
    assert client.get("/api/v1/models/424242", headers=auth).status_code == 404
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(AuditLog.user_id).where(AuditLog.action == "model.deploy")) is not None


def test_a_spec_whose_features_cannot_be_computed_is_refused(app, settings: Settings, package: Path) -> None:
    token = make_token(settings, make_user(settings, "bot", "operator"))
    hostile = manifest()
    hostile["feature_spec"]["window"] = "boxcar; rm -rf /"  # shapes still match: only computing it fails
    refused = app.test_client().post(
        "/api/v1/models",
        headers={"Authorization": f"Bearer {token}"},
        data=_files(package, hostile),
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400, refused.json
    [problem] = refused.json["problems"]
    assert problem.startswith("feature_spec: features cannot be computed on a sample window")
    assert "Invalid window name 'boxcar; rm -rf /'" in problem
    assert _statuses(settings) == {}


def test_nginx_lets_through_every_upload_the_app_accepts() -> None:
    """A model package the app takes (MAX_UPLOAD_BYTES) must not be cut off by the proxy in front of it."""
    conf = (Path(__file__).parents[1] / "deploy" / "nginx.conf").read_text()
    size, unit = re.search(r"client_max_body_size\s+(\d+)([kmg]?);", conf).groups()
    assert int(size) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit] >= MAX_UPLOAD_BYTES
