"""/healthz answers always; /readyz and /status tell whether Postgres and the broker answer; /status shows heartbeats.

Anonymous callers get up or down only; the details (versions, schema, broker address, errors) need a login."""

import datetime as dt
import re
import time
from collections.abc import Callable

import pytest
from alembic.script import ScriptDirectory

from app import create_app
from app.web.extensions import db
from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.db.migrate import alembic_config
from oceanwatch.runtime.embedded import free_port
from oceanwatch.runtime.health import check_database
from oceanwatch.runtime.heartbeat import Heartbeat, beat
from tests.webkit import logged_in

pytestmark = pytest.mark.integration


def test_healthz_is_alive(settings: Settings) -> None:
    client = create_app(settings=settings).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_database_and_broker(settings: Settings) -> None:
    app = create_app(settings=settings)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json == {"ready": True, "checks": {"database": "up", "broker": "up"}}
    details = logged_in(app, settings, "viewer").get("/readyz").json["details"]
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    assert details["database"]["ok"] and f"schema {head}" in details["database"]["detail"]
    assert details["broker"]["ok"] and "acoustic.windows" in details["broker"]["detail"]


def test_the_web_app_and_the_core_share_one_engine_and_pool(settings: Settings) -> None:
    """Requests (db.session) and the core calls the app makes (health, /metrics) use one pool per process."""
    app = create_app(settings=settings)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        engine = db.engine
        assert engine is engine_for(settings.database_url)
        checked_out = engine.pool.checkedout()
        assert check_database(engine).ok and engine.pool.checkedout() == checked_out, "connections go back"


def test_readyz_reports_a_dead_broker(settings: Settings) -> None:
    dead = settings.updated(kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    response = create_app(settings=dead).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"ready": False, "checks": {"database": "up", "broker": "down"}}


def test_readyz_reports_a_dead_database(settings: Settings) -> None:
    dead = settings.updated(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x")
    response = create_app(settings=dead).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["ready"] is False and response.json["checks"]["database"] == "down"


def test_anonymous_callers_get_up_or_down_only(settings: Settings) -> None:
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    dead_broker = settings.updated(kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    for case in (settings, dead_broker):
        app = create_app(settings=case)
        beat(case.database_url, "ingest", "host-a:1", dt.datetime.now(dt.timezone.utc), {})
        viewer = logged_in(app, case, "viewer", username=f"viewer-{case is settings}")
        details = viewer.get("/readyz").json["details"]
        detailed = viewer.get("/status").get_data(as_text=True)
        assert "PostgreSQL" in detailed and " ms" in detailed and 'class="instances"' in detailed
        # what anonymous callers must not learn: versions, schema, broker address and topics, errors, timings
        secrets = [
            "PostgreSQL",
            head,
            case.kafka.bootstrap_servers,
            "acoustic.windows",
            " ms",
            "latency",
            details["broker"]["detail"],
        ]
        anonymous = app.test_client()
        readyz = anonymous.get("/readyz").get_data(as_text=True)
        status = anonymous.get("/status").get_data(as_text=True)
        for secret in secrets:
            assert secret not in readyz and secret not in status, f"anonymous callers see {secret!r}"
        assert 'id="service-ingest" data-up="true"' in status and 'class="instances"' not in status


def test_status_page_shows_both_components(settings: Settings) -> None:
    html = create_app(settings=settings).test_client().get("/status").get_data(as_text=True)
    assert 'id="check-database"' in html and 'id="check-broker"' in html
    assert "All systems up" in html


def _service_rows(html: str) -> dict[str, tuple[str, str, int]]:
    """(state, age text, live instances) of each service row of the status page."""
    rows = re.findall(
        r'<tr id="service-([^"]+)"[^>]*>\s*<td>[^<]*</td>\s*<td class="[^"]*">(up|down)</td>\s*'
        r'<td class="age"[^>]*>([^<]*)</td>\s*<td class="instances">(\d+)</td>',
        html,
    )
    return {name: (state, age, int(instances)) for name, state, age, instances in rows}


def test_status_page_shows_every_services_heartbeat(settings: Settings) -> None:
    settings = settings.updated(heartbeat_interval_s=1.0)  # down after 3 s without a beat
    url = settings.database_url
    client = logged_in(create_app(settings=settings), settings, "viewer")  # ages and instances are for users
    assert "No service has sent a heartbeat yet" in client.get("/status").get_data(as_text=True)
    ingest = Heartbeat(url, "ingest", 0.5)  # as run_service starts it (beating well within the 3 s)
    ingest.start()
    try:
        deadline = time.monotonic() + 30
        while "ingest" not in _service_rows(client.get("/status").get_data(as_text=True)):
            assert time.monotonic() < deadline, "the ingest heartbeat never reached the status page"
            time.sleep(0.1)
        now = dt.datetime.now(dt.timezone.utc)
        beat(url, "ingest", "replica-host:2", now, {})  # a second instance, on another host
        beat(url, "predict_stream", "crashed-host:3", now, {})  # beats once; then its process dies
        backup = Heartbeat(url, "backup", settings.heartbeat_interval_s)
        backup.start()
        backup.finish()  # a clean stop is recorded: down at once
        rows = _service_rows(client.get("/status").get_data(as_text=True))
        assert rows["ingest"][0] == "up" and rows["ingest"][2] == 2 and re.fullmatch(r"\d s ago", rows["ingest"][1])
        assert rows["predict_stream"][0] == "up" and rows["predict_stream"][2] == 1
        assert rows["backup"][0] == "down" and rows["backup"][2] == 0

        deadline = time.monotonic() + 30  # the crashed instance goes stale; the live one keeps beating
        while (rows := _service_rows(client.get("/status").get_data(as_text=True)))["predict_stream"][0] == "up":
            assert time.monotonic() < deadline, "a silent service still shows as up"
            time.sleep(0.2)
        assert rows["predict_stream"][2] == 0 and re.fullmatch(r"\d+ s ago", rows["predict_stream"][1])
        assert rows["ingest"][0] == "up" and rows["ingest"][2] == 1  # the replica went silent too
    finally:
        ingest.finish()
    html = client.get("/status").get_data(as_text=True)
    assert _service_rows(html)["ingest"][:1] == ("down",) and 'id="check-database"' in html


def test_status_page_says_services_are_unknown_when_the_database_is_down(settings: Settings) -> None:
    dead = settings.updated(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x")
    html = create_app(settings=dead).test_client().get("/status").get_data(as_text=True)
    assert 'id="services-unknown"' in html and "Degraded" in html


def _site_rows(html: str) -> dict[str, tuple[str, int]]:
    """(state, windows in its last hour) of each row of the status page's site table."""
    rows = re.findall(r'<tr id="site-([^"]+)" data-state="([a-z]+)">.*?<td class="last-hour">(\d+)</td>', html, re.S)
    return {site: (state, int(n)) for site, state, n in rows}


def test_status_page_says_which_sites_deliver(
    settings: Settings, new_topic: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows the ingest writer stored make their site `delivering`; the others are waiting, inactive or silent."""
    from oceanwatch.sim.scenario import Scenario
    from oceanwatch.sites import activity
    from tests.pipelinekit import ingest_simulated
    from tests.webkit import make_token, make_user

    now = time.time()
    ingest_simulated(settings, new_topic(), Scenario(seed=3), now - 300, now)
    app = create_app(settings=settings)
    auth = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'sites', 'operator'))}"}
    for site, active in (("QUIET", True), ("OFF", False)):
        body = {"id": site, "name": site, "latitude": 36.8, "longitude": -122.0, "active": active}
        assert app.test_client().post("/api/v1/sites", json=body, headers=auth).status_code == 201
    with engine_for(settings.database_url).connect() as conn:
        stored = conn.exec_driver_sql("select count(*) from windows").scalar_one()
    assert stored >= 10

    assert "site-activity" not in app.test_client().get("/status").get_data(as_text=True), "signed in only"
    viewer = logged_in(app, settings, "viewer")
    rows = _site_rows(viewer.get("/status").get_data(as_text=True))
    assert rows == {settings.hydrophone.id: ("delivering", stored), "QUIET": ("waiting", 0), "OFF": ("inactive", 0)}
    monkeypatch.setattr(activity, "SILENT_AFTER_S", 0.0)
    assert _site_rows(viewer.get("/status").get_data(as_text=True))[settings.hydrophone.id] == ("silent", stored)
