"""Sites: validated once (API, page and seed alike), managed by operators through the API and the
Sites page, every change audited; viewers only read."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app import create_app
from app.sites.api import SITE_SCHEMA
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AuditLog, Hydrophone
from oceanwatch.db.seed import ensure_default_hydrophone, ensure_demo_sites
from oceanwatch.sites.spec import DirectoryAudio, SimulatorAudio, SiteError, SiteFields, parse_fields, site_source
from tests.webkit import csrf_token, logged_in, make_token, make_user

NEW = {"id": "M2", "name": "North canyon", "latitude": 36.8, "longitude": -122.0, "depth_m": 890, "channels": 1}


def test_every_problem_of_a_site_is_named_at_once() -> None:
    with pytest.raises(SiteError) as caught:
        parse_fields({"name": "", "latitude": 91, "longitude": -122, "sensitivity_db": 12, "colour": "red"})
    reason = str(caught.value)
    for field in ("name", "latitude", "sensitivity_db", "colour"):
        assert field in reason, reason
    with pytest.raises(SiteError, match="group named ts"):
        parse_fields(
            {
                "name": "x",
                "latitude": 0,
                "longitude": 0,
                "source": {"kind": "directory", "path": "/d", "pattern": r"(\d+)"},
            }
        )
    with pytest.raises(SiteError, match="source"):
        parse_fields({"name": "x", "latitude": 0, "longitude": 0, "source": {"kind": "rtsp"}})


def test_a_site_without_its_own_source_follows_the_ingest_settings(settings: Settings) -> None:
    assert site_source(None, settings) == SimulatorAudio()
    watching = settings.updated(ingest={"source": "directory", "dir": "/srv/audio", "align": "file"})
    assert site_source(None, watching) == DirectoryAudio(path="/srv/audio", align="file")
    own = {"kind": "directory", "path": "/srv/m2", "pattern": r"M2_(?P<ts>\d{14})", "time_format": "%Y%m%d%H%M%S"}
    assert site_source(own, watching).dirs()[0].as_posix() == "/srv/m2"


def test_the_api_schema_names_every_site_field() -> None:
    assert set(SITE_SCHEMA["properties"]) == {"id", *SiteFields.model_fields}


@pytest.fixture
def api(settings: Settings):
    app = create_app(settings=settings)
    operator = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'op', 'operator'))}"}
    viewer = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'eye', 'viewer'))}"}
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    return app.test_client(), operator, viewer


@pytest.mark.integration
def test_operators_add_and_change_sites_viewers_read_them_and_each_change_is_audited(api, settings: Settings) -> None:
    client, operator, viewer = api
    assert client.post("/api/v1/sites", json=NEW, headers=viewer).status_code == 403
    created = client.post("/api/v1/sites", json=NEW, headers=operator)
    assert created.status_code == 201, created.json
    assert created.json["source"] is None and created.json["active"] is True and created.json["depth_m"] == 890
    assert client.post("/api/v1/sites", json=NEW, headers=operator).json == {"error": "site 'M2' exists already"}

    listed = client.get("/api/v1/sites", headers=viewer).json["sites"]
    assert [s["id"] for s in listed] == sorted([settings.hydrophone.id, "M2"])

    changed = client.patch(
        "/api/v1/sites/M2",
        json={"sensitivity_db": -165.5, "source": {"kind": "directory", "path": "/srv/m2", "align": "file"}},
        headers=operator,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["sensitivity_db"] == -165.5 and changed.json["source"]["align"] == "file"
    assert changed.json["name"] == "North canyon"  # the fields not sent stay as they were
    off = client.patch("/api/v1/sites/M2", json={"active": False}, headers=operator)
    assert off.json["active"] is False

    refused = client.patch("/api/v1/sites/M2", json={"latitude": 123, "id": "M3"}, headers=operator)
    assert refused.status_code == 400 and "id cannot change" in refused.json["error"]
    assert client.patch("/api/v1/sites/M2", json={"latitude": 123}, headers=operator).status_code == 400
    assert client.patch("/api/v1/sites/NOPE", json={"name": "x"}, headers=operator).status_code == 404
    assert client.get("/api/v1/sites/NOPE", headers=viewer).status_code == 404
    assert client.patch("/api/v1/sites/M2", json=["not", "an", "object"], headers=operator).status_code == 400

    with session_scope(settings.database_url) as session:
        audit = session.execute(
            select(AuditLog.action, AuditLog.details).where(AuditLog.target_type == "site").order_by(AuditLog.id)
        ).all()
        stored = session.get_one(Hydrophone, "M2")
        assert stored.latitude == 36.8 and stored.active is False  # refused changes left nothing behind
    assert [a for a, _ in audit] == ["site.create", "site.update", "site.deactivate"]
    update = audit[1].details["changes"]
    assert update["sensitivity_db"] == {"old": None, "new": -165.5} and update["source"]["old"] is None


@pytest.mark.integration
def test_the_sites_page_adds_edits_and_deactivates_a_site(settings: Settings) -> None:
    app = create_app(settings=settings)
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    client = logged_in(app, settings, "operator")
    token = csrf_token(client, "/sites/")
    form = {"csrf_token": token, "id": "M2", "name": "North canyon", "latitude": "36.8", "longitude": "-122.0"}
    form |= {"depth_m": "", "channels": "1", "sample_rate": "", "sensitivity_db": "-170", "source_kind": "simulator"}
    page = client.post("/sites/", data=form, follow_redirects=True).get_data(as_text=True)
    assert "Added site M2" in page and "-170 dB re 1 V/µPa" in page

    bad = client.post("/sites/", data={**form, "id": "M3", "latitude": "north"}, follow_redirects=True)
    assert "latitude" in bad.get_data(as_text=True) and 'id="site-M3"' not in bad.get_data(as_text=True)

    off = client.post("/sites/M2/active", data={"csrf_token": token, "active": "0"}, follow_redirects=True)
    assert re.search(r'id="site-M2" class="inactive"', off.get_data(as_text=True))
    edit = client.get("/sites/M2").get_data(as_text=True)
    assert 'value="North canyon"' in edit
    edited = {**form, "name": "Canyon head", "source_kind": "directory", "path": str(settings.data_dir / "m2")}
    del edited["id"]
    saved = client.post("/sites/M2", data=edited, follow_redirects=True).get_data(as_text=True)
    assert "Saved site M2" in saved and "Canyon head" in saved and "directory: " in saved
    with session_scope(settings.database_url) as session:
        site = session.get_one(Hydrophone, "M2")
        assert site.active is False, "editing a deactivated site leaves it deactivated"
        assert site.source == DirectoryAudio(path=str(settings.data_dir / "m2")).model_dump()

    viewer = logged_in(app, settings, "viewer")
    assert viewer.get("/sites/").status_code == 200 and "New site" not in viewer.get("/sites/").get_data(as_text=True)
    own_token = csrf_token(viewer, "/sites/")
    assert viewer.post("/sites/", data={**form, "csrf_token": own_token, "id": "M9"}).status_code == 403


@pytest.mark.integration
def test_the_demo_adds_two_sites_along_a_lane_once(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
        ensure_demo_sites(session, settings)
    with session_scope(settings.database_url) as session:
        session.get_one(Hydrophone, "MOSS").active = False  # an operator's change
    with session_scope(settings.database_url) as session:
        ensure_demo_sites(session, settings)  # the demo starting again
        sites = {h.id: h.active for h in session.scalars(select(Hydrophone))}
    assert sites == {settings.hydrophone.id: True, "MOSS": False, "SCRUZ": True}
