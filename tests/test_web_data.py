"""The data management page and its API: roles, CSRF, previews that keep nothing, edits that queue a
relabel job which then changes the labels, overrides, classes and vessel statistics."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import AuditLog, ClassMapping, Job, ShipClass, TruthLabel, VesselClassOverride
from oceanwatch.truth.classmap import run_relabel
from tests.fleetkit import DAY2, VESSELS
from tests.webkit import csrf_token, logged_in, make_token, make_user

pytestmark = pytest.mark.integration


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings)


def _labels(settings: Settings, radius: int = 20) -> dict[int, list[str]]:
    with session_scope(settings.database_url) as s:
        return {
            t.window_id: sorted(t.classes) for t in s.scalars(select(TruthLabel).where(TruthLabel.radius_km == radius))
        }


def _mapping(settings: Settings, ship_type: int) -> str | None:
    with session_scope(settings.database_url) as s:
        return s.get(ClassMapping, ship_type).class_code


def _audit_count(settings: Settings, action: str) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == action))


def _run_relabel(settings: Settings) -> int | None:
    """What the truth labeller service does with a queued relabel job."""
    return jobs.run_next(settings.database_url, {"relabel": run_relabel})


def test_anonymous_users_and_viewers_cannot_edit_and_writes_need_csrf(app, settings: Settings, fleet) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/data/").status_code == 302
    assert anonymous.get("/api/v1/mappings").status_code == 401
    assert anonymous.put("/api/v1/mappings", json={"ship_types": [70], "class_code": "C"}).status_code == 401

    viewer = logged_in(app, settings, "viewer")
    page = viewer.get("/data/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="mapping-70"' in html and "Cargo" in html
    assert 'id="mapping-form"' not in html  # viewers see no edit forms
    token = csrf_token(viewer, "/data/")
    form = {"csrf_token": token, "action": "mapping", "ship_types": "70", "class_code": "C"}
    assert viewer.post("/data/preview", data=form).status_code == 403
    assert viewer.post("/data/apply", data=form).status_code == 403
    assert (
        viewer.put(
            "/api/v1/mappings", json={"ship_types": [70], "class_code": "C"}, headers={"X-CSRFToken": token}
        ).status_code
        == 403
    )
    assert (
        viewer.post(
            "/api/v1/relabel/preview", json={"action": "mapping", "ship_types": [70]}, headers={"X-CSRFToken": token}
        ).status_code
        == 403
    )
    assert viewer.get("/api/v1/mappings").status_code == 200

    operator = logged_in(app, settings, "operator")
    assert operator.post("/data/apply", data={k: v for k, v in form.items() if k != "csrf_token"}).status_code == 400
    no_header = operator.put("/api/v1/mappings", json={"ship_types": [70], "class_code": "C"})
    assert no_header.status_code == 400 and "CSRF" in no_header.json["error"]
    assert _mapping(settings, 70) == "D" and _audit_count(settings, "mapping.set") == 0


def test_mapping_change_previews_then_applies_and_the_job_relabels(app, settings: Settings, fleet) -> None:
    operator = logged_in(app, settings, "operator")
    token = csrf_token(operator, "/data/")
    headers = {"X-CSRFToken": token}
    before = _labels(settings)
    assert before[fleet["day1"][0]] == ["D"] and before[fleet["day2"][0]] == ["D"]

    edit = {"action": "mapping", "ship_types": [70], "class_code": "C"}
    everything = operator.post("/api/v1/relabel/preview", json=edit, headers=headers)
    assert everything.status_code == 200, everything.json
    from_day2 = operator.post(
        "/api/v1/relabel/preview", json={**edit, "since": DAY2.date().isoformat()}, headers=headers
    ).json
    radii = len(settings.truth.radii_km)
    # vessel 101 is in both day-1 windows, 102 in one day-2 window: three windows, every radius
    assert everything.json["changed"] == 3 * radii and everything.json["vessels"] == 2
    assert from_day2["changed"] == radii and from_day2["changed_all_history"] == 3 * radii
    assert _mapping(settings, 70) == "D" and _labels(settings) == before, "a preview keeps nothing"
    assert _audit_count(settings, "mapping.set") == 0

    applied = operator.put("/api/v1/mappings", json={**edit, "since": DAY2.isoformat()}, headers=headers)
    assert applied.status_code == 200, applied.json
    job_id = applied.json["job_id"]
    assert _mapping(settings, 70) == "C" and _audit_count(settings, "mapping.set") == 1
    assert operator.get(f"/api/v1/jobs/{job_id}").json["job"]["status"] == "queued"

    assert _run_relabel(settings) == job_id
    job = operator.get(f"/api/v1/jobs/{job_id}").json["job"]
    assert job["status"] == "succeeded" and job["progress"] == 1.0 and job["result"]["changed"] == from_day2["changed"]
    after = _labels(settings)
    assert after[fleet["day2"][0]] == ["C"], "relabelled from the chosen date"
    assert after[fleet["day1"][0]] == ["D"], "earlier windows keep their labels"
    assert [j["id"] for j in operator.get("/api/v1/jobs").json["jobs"]] == [job_id]
    with session_scope(settings.database_url) as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "mapping.set")).one()
        assert audit.user_id is not None and audit.details["after"] == "C"


def test_the_page_shows_the_preview_count_and_its_confirm_queues_the_job(app, settings: Settings, fleet) -> None:
    operator = logged_in(app, settings, "operator")
    token = csrf_token(operator, "/data/")
    form = {"csrf_token": token, "action": "mapping", "ship_types": "30-31", "class_code": "B"}
    shown = operator.post("/data/preview", data=form)
    html = shown.get_data(as_text=True)
    radii = len(settings.truth.radii_km)
    assert shown.status_code == 200 and f'<span id="preview-count">{radii}</span> labels would change' in html
    assert 'name="ship_types" value="30,31"' in html and _mapping(settings, 30) == "A"

    confirmed = operator.post("/data/apply", data={**form, "ship_types": "30,31"})
    assert confirmed.status_code == 303
    page = operator.get("/data/").get_data(as_text=True)
    assert "Relabel job" in page and 'data-status="queued"' in page
    _run_relabel(settings)
    assert _labels(settings)[fleet["day1"][1]] == ["B", "D"]
    assert 'data-status="succeeded"' in operator.get("/data/").get_data(as_text=True)

    bad = operator.post("/data/preview", data={**form, "class_code": "Z"})
    assert bad.status_code == 400 and "no ship class" in bad.get_data(as_text=True)
    out_of_range = operator.post("/data/preview", data={**form, "ship_types": "120"})
    assert out_of_range.status_code == 400 and "0-99" in out_of_range.get_data(as_text=True)


def test_overrides_are_added_with_a_reason_and_removed(app, settings: Settings, fleet) -> None:
    token = make_token(settings, make_user(settings, "op", "operator"))
    client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
    pinned = client.put("/api/v1/overrides/101", json={"class_code": "A", "reason": "survey ship"}, headers=auth)
    assert pinned.status_code == 200 and pinned.json["job_id"]
    [row] = client.get("/api/v1/overrides", headers=auth).json["overrides"]
    assert (row["mmsi"], row["class_code"], row["reason"], row["created_by"]) == (101, "A", "survey ship", "op")
    _run_relabel(settings)
    assert _labels(settings)[fleet["day1"][0]] == ["A"]
    removed = client.delete("/api/v1/overrides/101", headers=auth)
    assert removed.status_code == 200
    _run_relabel(settings)
    assert _labels(settings)[fleet["day1"][0]] == ["D"]
    assert client.get("/api/v1/overrides", headers=auth).json["overrides"] == []
    assert client.put("/api/v1/overrides/101", json={"reason": "x"}, headers=auth).status_code == 400
    assert client.put("/api/v1/overrides/101", json={"class_code": "Q"}, headers=auth).status_code == 400


def test_classes_are_edited_by_operators_and_merged_or_removed_by_admins(app, settings: Settings, fleet) -> None:
    op_token = make_token(settings, make_user(settings, "op", "operator"))
    admin_token = make_token(settings, make_user(settings, "boss", "admin"))
    client = app.test_client()
    op, admin = {"Authorization": f"Bearer {op_token}"}, {"Authorization": f"Bearer {admin_token}"}
    created = client.put(
        "/api/v1/classes/F", json={"name": "Research", "description": "survey", "color": "#123456"}, headers=op
    )
    assert created.status_code == 200 and created.json["job_id"] is None  # no vessel maps to it yet
    assert {
        "code": "F",
        "name": "Research",
        "description": "survey",
        "color": "#123456",
        "is_background": False,
        "active": True,
    } in client.get("/api/v1/classes", headers=op).json["classes"]
    assert client.put("/api/v1/classes/F", json={"name": "R", "color": "red"}, headers=op).status_code == 400
    assert client.delete("/api/v1/classes/F", headers=op).status_code == 403
    assert client.post("/api/v1/classes/F/merge", json={"into": "A"}, headers=op).status_code == 403
    assert client.post("/api/v1/relabel/preview", json={"action": "remove", "code": "B"}, headers=op).status_code == 403

    preview = client.post("/api/v1/relabel/preview", json={"action": "merge", "code": "D", "into": "C"}, headers=admin)
    assert preview.status_code == 200 and preview.json["changed"] > 0
    codes = {c["code"] for c in client.get("/api/v1/classes", headers=admin).json["classes"]}
    assert "D" in codes and _mapping(settings, 70) == "D", "a preview keeps nothing"
    merged = client.post("/api/v1/classes/D/merge", json={"into": "C"}, headers=admin)
    assert merged.status_code == 200 and merged.json["job_id"]
    _run_relabel(settings)
    assert _labels(settings)[fleet["day1"][0]] == ["C"]
    assert client.post("/api/v1/classes/C/merge", json={"into": "C"}, headers=admin).status_code == 400
    background = client.delete("/api/v1/classes/E", headers=admin)
    assert background.status_code == 400 and "background" in background.json["error"]
    assert client.delete("/api/v1/classes/F", headers=admin).status_code == 200
    with session_scope(settings.database_url) as s:
        assert s.get(ShipClass, "F") is None
        assert {a for a in s.scalars(select(AuditLog.action))} >= {"class.save", "class.merge", "class.remove"}


def test_vessel_statistics_per_ship_type(app, settings: Settings, fleet) -> None:
    with session_scope(settings.database_url) as s:
        s.add(VesselClassOverride(mmsi=102, class_code="A", reason="test"))
    client = logged_in(app, settings, "viewer")
    stats = {row["ship_type"]: row for row in client.get("/api/v1/vessel-stats").json["ship_types"]}
    assert set(stats) == {t for _, t, *_ in VESSELS}
    for ship_type, row in stats.items():
        mine = [v for v in VESSELS if v[1] == ship_type]
        assert row["vessels"] == len(mine)
        for k, col in ((2, "length_m"), (3, "beam_m"), (4, "tonnage")):
            values = [v[k] for v in mine if v[k] is not None]
            expected = (sum(values) / len(values), min(values), max(values)) if values else (None, None, None)
            assert (row[f"{col}_mean"], row[f"{col}_min"], row[f"{col}_max"]) == pytest.approx(expected)
    assert (stats[70]["designation"], stats[70]["class_code"], stats[70]["overridden"]) == ("Cargo", "D", 1)
    assert stats[None]["designation"] == "No static data"
    html = client.get("/data/").get_data(as_text=True)
    assert 'id="stats-70"' in html and "150.0 (120–180)" in html


def test_a_queued_job_can_be_cancelled(app, settings: Settings, fleet) -> None:
    operator = logged_in(app, settings, "operator")
    token = csrf_token(operator, "/data/")
    job_id = operator.put(
        "/api/v1/mappings", json={"ship_types": [37], "class_code": "A"}, headers={"X-CSRFToken": token}
    ).json["job_id"]
    assert (
        operator.post(f"/api/v1/jobs/{job_id}/cancel", headers={"X-CSRFToken": token}).json["job"]["status"]
        == "cancelled"
    )
    assert operator.post(f"/api/v1/jobs/{job_id}/cancel", headers={"X-CSRFToken": token}).status_code == 409
    assert _run_relabel(settings) is None
    with session_scope(settings.database_url) as s:
        assert s.get(Job, job_id).status == "cancelled"
    assert operator.get("/api/v1/jobs/999999").status_code == 404
