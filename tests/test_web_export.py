"""Downloads: the labelled dataset zip (human labels over AIS truth, ambiguous flagged) and model packages."""

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import HumanLabel, MLModel, Spectrogram, TruthLabel
from oceanwatch.messages import PackedArray
from oceanwatch.registry import store
from oceanwatch.testing.synthetic import T0, store_windows
from tests.modelkit import TINY_SPEC, runnable_model
from tests.webkit import make_token, make_user

pytestmark = pytest.mark.integration


@pytest.fixture
def client(settings: Settings):
    token = make_token(settings, make_user(settings, "reader", "viewer"))
    return create_app(settings=settings).test_client(), {"Authorization": f"Bearer {token}"}


def test_export_has_every_labelled_window_with_its_spectrogram_and_effective_label(client, settings: Settings) -> None:
    c, auth = client
    windows = [m.window_id for m in store_windows(settings, 6, spec=TINY_SPEC)]
    truth = {
        windows[0]: (["A"], False),
        windows[1]: (["D"], True),
        windows[2]: (["E"], False),
        windows[3]: (["B", "C"], False),
    }
    with session_scope(settings.database_url) as session:
        for w, (classes, ambiguous) in truth.items():
            session.add(
                TruthLabel(
                    window_id=w, radius_km=20, classes=classes, ambiguous=ambiguous, vessels=[], buffer_vessels=[]
                )
            )
        session.add(
            TruthLabel(
                window_id=windows[4], radius_km=30, classes=["C"], ambiguous=False, vessels=[], buffer_vessels=[]
            )
        )
        session.add(HumanLabel(window_id=windows[1], classes=["C"], note="heard it"))  # overrides ambiguous AIS
        session.add(HumanLabel(window_id=windows[5], classes=["E"]))  # labelled by a person only
        stored = {
            s.window_id: PackedArray(s.dtype, tuple(s.shape), s.data).unpack()
            for s in session.scalars(select(Spectrogram))
        }
    query = {"start": T0.isoformat(), "end": (T0 + dt.timedelta(hours=1)).isoformat(), "radius_km": 20}
    response = c.get("/api/v1/export", headers=auth, query_string=query)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    expected = {
        windows[0]: ("A", "ais", "false"),
        windows[1]: ("C", "human", "false"),
        windows[2]: ("E", "ais", "false"),
        windows[3]: ("B+C", "ais", "false"),
        windows[5]: ("E", "human", "false"),
    }  # windows[4] has truth only at 30 km
    assert {int(r["window_id"]): (r["label"], r["label_source"], r["ambiguous"]) for r in rows} == expected
    for r in rows:
        array = np.load(io.BytesIO(archive.read(r["file"])), allow_pickle=False)
        np.testing.assert_array_equal(array, stored[int(r["window_id"])])
    at30 = zipfile.ZipFile(
        io.BytesIO(c.get("/api/v1/export", headers=auth, query_string={**query, "radius_km": 30}).data)
    )
    rows30 = list(csv.DictReader(io.StringIO(at30.read("manifest.csv").decode())))
    assert {int(r["window_id"]) for r in rows30} == {windows[1], windows[4], windows[5]}
    with session_scope(settings.database_url) as session:
        session.execute(TruthLabel.__table__.update().where(TruthLabel.window_id == windows[0]).values(ambiguous=True))
    again = zipfile.ZipFile(io.BytesIO(c.get("/api/v1/export", headers=auth, query_string=query).data))
    flags = {
        int(r["window_id"]): r["ambiguous"] for r in csv.DictReader(io.StringIO(again.read("manifest.csv").decode()))
    }
    assert flags[windows[0]] == "true"


def test_export_of_one_site_holds_only_its_windows(client, settings: Settings) -> None:
    c, auth = client
    windows = store_windows(settings, 9, spec=TINY_SPEC, hydrophones=3)
    with session_scope(settings.database_url) as session:
        for w in windows:
            session.add(TruthLabel(window_id=w.window_id, radius_km=20, classes=["A"], ambiguous=False, vessels=[]))
    query = {"start": T0.isoformat(), "end": (T0 + dt.timedelta(hours=1)).isoformat(), "site": "H2"}
    archive = zipfile.ZipFile(io.BytesIO(c.get("/api/v1/export", headers=auth, query_string=query).data))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert sorted(int(r["window_id"]) for r in rows) == sorted(w.window_id for w in windows if w.hydrophone_id == "H2")
    assert {r["hydrophone_id"] for r in rows} == {"H2"}
    assert c.get("/api/v1/export", headers=auth, query_string={**query, "site": "nowhere"}).status_code == 400


@pytest.mark.parametrize(
    "query, message",
    [
        ({"format": "parquet"}, "format"),
        ({"radius_km": "25"}, "radius_km"),
        ({"start": "soon"}, "ISO 8601"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_export_parameters_get_a_400(client, query: dict, message: str) -> None:
    c, auth = client
    response = c.get("/api/v1/export", headers=auth, query_string=query)
    assert response.status_code == 400 and message in response.json["error"]


def test_a_downloaded_model_package_registers_again(client, settings: Settings, tmp_path: Path) -> None:
    c, auth = client
    model_id = runnable_model(settings, tmp_path, "shipped", deploy=False)
    response = c.get(f"/api/v1/models/{model_id}/package", headers=auth)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    package = tmp_path / "downloaded.zip"
    package.write_bytes(response.data)
    with session_scope(settings.database_url) as session:
        row = session.get(MLModel, model_id)
        artifact, manifest = Path(row.artifact_path), row.manifest
    assert zipfile.ZipFile(package).read("model.keras") == artifact.read_bytes()
    with store.open_package(package) as (keras_path, data):
        assert data == manifest
        with session_scope(settings.database_url) as session:
            again = store.register(session, settings.data_dir / "models", keras_path, {**data, "version": "2"})
    assert again != model_id
    assert c.get("/api/v1/models/9999/package", headers=auth).status_code == 404
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    tampered = c.get(f"/api/v1/models/{model_id}/package", headers=auth)
    assert tampered.status_code == 409 and "checksum" in tampered.json["error"]
    assert create_app(settings=settings).test_client().get(f"/api/v1/models/{model_id}/package").status_code == 401
