"""The data API: predictions, windows, vessels and positions by time range; the OpenAPI document."""

import datetime as dt

import numpy as np
import pytest
from openapi_spec_validator import validate

from app import create_app
from app.api.openapi import openapi_document
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AISPosition, Vessel
from oceanwatch.testing.synthetic import T0, store_windows
from tests.modelkit import CLASSES, registered_model
from tests.predictionkit import add_predictions
from tests.webkit import make_token, make_user

pytestmark = pytest.mark.integration


@pytest.fixture
def client_and_auth(settings: Settings):
    token = make_token(settings, make_user(settings, "reader", "viewer"))
    return create_app(settings=settings).test_client(), {"Authorization": f"Bearer {token}"}


def test_predictions_and_windows_by_time_range(client_and_auth, settings: Settings) -> None:
    client, auth = client_and_auth
    windows = store_windows(settings, 6)
    model_id = registered_model(settings, "m")
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in windows], model_id, np.random.default_rng(0))
    start = (T0 + dt.timedelta(seconds=22.5 * 2)).isoformat()
    end = (T0 + dt.timedelta(seconds=22.5 * 4)).isoformat()
    got = client.get("/api/v1/windows", headers=auth, query_string={"start": start, "end": end}).json["windows"]
    assert [w["id"] for w in got] == [w.window_id for w in windows[2:5]]
    preds = client.get(
        "/api/v1/predictions", headers=auth, query_string={"start": start, "end": end, "model_id": model_id}
    ).json["predictions"]
    assert [p["window_id"] for p in preds] == [w.window_id for w in windows[2:5]]
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-5 and p["predicted"][0] in CLASSES for p in preds)
    limited = client.get(
        "/api/v1/windows", headers=auth, query_string={"start": T0.isoformat(), "end": end, "limit": 2}
    ).json["windows"]
    assert len(limited) == 2


@pytest.mark.parametrize(
    "query, message",
    [
        ({"start": "yesterday"}, "ISO 8601"),
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start is after end"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"model_id": "x"}, "model_id"),
    ],
)
def test_bad_parameters_get_a_clear_400(client_and_auth, query: dict, message: str) -> None:
    client, auth = client_and_auth
    response = client.get("/api/v1/predictions", headers=auth, query_string=query)
    assert response.status_code == 400 and message in response.json["error"]


def test_vessels_and_positions(client_and_auth, settings: Settings) -> None:
    client, auth = client_and_auth
    with session_scope(settings.database_url) as session:
        session.add(Vessel(mmsi=366000001, name="TEST SHIP", ship_type=70))
        session.flush()
        for k in range(4):
            session.add(
                AISPosition(
                    mmsi=366000001,
                    time=T0 + dt.timedelta(minutes=k),
                    latitude=36.7 + k / 100,
                    longitude=-122.2,
                    msg_type=1,
                    source="test",
                )
            )
    vessels = client.get("/api/v1/vessels", headers=auth).json["vessels"]
    assert [(v["mmsi"], v["name"], v["ship_type"]) for v in vessels] == [(366000001, "TEST SHIP", 70)]
    positions = client.get(
        "/api/v1/positions",
        headers=auth,
        query_string={"start": T0.isoformat(), "end": (T0 + dt.timedelta(minutes=2)).isoformat(), "mmsi": 366000001},
    ).json
    assert [round(p["latitude"], 2) for p in positions["positions"]] == [36.70, 36.71, 36.72]


def test_openapi_document_is_valid_and_covers_every_api_route(client_and_auth) -> None:
    client, auth = client_and_auth
    document = client.get("/api/v1/openapi.json", headers=auth).json
    validate(document)
    assert document == openapi_document(client.application)
    app = create_app(settings=Settings(secret_key="x", database_url="postgresql+psycopg2://u@h/d"))
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
