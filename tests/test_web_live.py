"""The live page embeds a Bokeh session signed with the shared secret and granted to its user only, for
minutes; it plays the clips ingest wrote, and nothing outside DATA_DIR/clips."""

import datetime as dt
import io
import re
import time

import numpy as np
import pytest
import requests
import soundfile
from bokeh.util.token import check_session_id_signature
from sqlalchemy import select

from app import create_app
from oceanwatch.audio.clips import UnsafeClipPath, clip_file, clip_relpath, clips_root
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import User, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.sim.scenario import Scenario
from oceanwatch.testing.synthetic import store_windows
from tests.pipelinekit import ingest_simulated
from tests.webkit import bokeh_server, csrf_token, logged_in, make_token, make_user, websocket_status

pytestmark = pytest.mark.integration


def test_live_page_embeds_a_signed_session_of_the_bokeh_server(settings: Settings) -> None:
    settings = settings.updated(bokeh={"port": 5999})
    viewer = logged_in(create_app(settings=settings), settings, "viewer")
    page = viewer.get("/live/").get_data(as_text=True)
    assert "http://127.0.0.1:5999/live/autoload.js" in page
    session_id = re.search(r'"Bokeh-Session-Id", "([^"]+)"', page).group(1)
    assert check_session_id_signature(session_id, secret_key=settings.secret_key.encode(), signed=True)
    assert not check_session_id_signature(session_id, secret_key=b"some-other-secret", signed=True)
    other = re.search(r'"Bokeh-Session-Id", "([^"]+)"', viewer.get("/live/").get_data(as_text=True)).group(1)
    assert other != session_id  # a fresh session per page load


def test_the_site_choice_lists_inactive_sites_but_follows_an_active_one_by_default(settings: Settings) -> None:
    """A deactivated site's history can still be watched: it is listed (marked), chosen only on request."""
    app = create_app(settings=settings)
    api = app.test_client()
    auth = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'siter', 'operator'))}"}
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    for site, active in (("AAA", False), ("ZED", True)):
        body = {"id": site, "name": site, "latitude": 36.8, "longitude": -122.0, "active": active}
        assert api.post("/api/v1/sites", json=body, headers=auth).status_code == 201
    off = api.patch(f"/api/v1/sites/{settings.hydrophone.id}", json={"active": False}, headers=auth)
    assert off.status_code == 200

    viewer = logged_in(app, settings, "viewer")
    page = viewer.get("/live/").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)" ?(selected)?>([^<]+)</option>', page)
    assert [(v, bool(sel)) for v, sel, _ in options] == [("AAA", False), (settings.hydrophone.id, False), ("ZED", True)]
    assert [text.endswith("(inactive)") for _, _, text in options] == [True, True, False]
    assert "Live: site ZED" in page, "the first active site, since the default one is off"
    assert "Live: site AAA" in viewer.get("/live/?site=AAA").get_data(as_text=True)


class LivePage:
    """The Bokeh session a live page hands out (id and, if any, grant header), opened as its browser would."""

    def __init__(self, page: str, bokeh_port: int) -> None:
        self.session_id = re.search(r'"Bokeh-Session-Id", "([^"]+)"', page).group(1)
        grant = re.search(r'"Ow-Grant", "([^"]+)"', page)
        self.headers = {"Bokeh-Session-Id": self.session_id, **({"Ow-Grant": grant.group(1)} if grant else {})}
        self.port = bokeh_port
        self.token: str | None = None

    def autoload(self, headers: dict[str, str] | None = None) -> int:
        """GET autoload.js (what the page's script does); keeps the websocket token it returns."""
        response = requests.get(
            f"http://127.0.0.1:{self.port}/live/autoload.js",
            headers=headers or self.headers,
            params={
                "bokeh-autoload-element": "p1",
                "bokeh-app-path": "/live",
                "bokeh-absolute-url": f"http://127.0.0.1:{self.port}/live",
            },
            timeout=60,
        )
        if response.status_code == 200:
            self.token = re.search(r'"token":\s*"([^"]+)"', response.text).group(1)
        return response.status_code

    def websocket(self, origin: str) -> int:
        return websocket_status(f"ws://127.0.0.1:{self.port}/live/ws", self.token, origin)


def test_a_live_session_id_is_bound_to_its_user_and_dies_with_logout_deactivation_or_age(
    settings: Settings, tmp_path
) -> None:
    origin = f"http://{settings.web.host}:{settings.web.port}"
    with bokeh_server(settings, tmp_path) as port:
        app = create_app(settings=settings.updated(bokeh={"port": port}))
        viewer = logged_in(app, settings, "viewer")
        live = LivePage(viewer.get("/live/").get_data(as_text=True), port)
        assert live.autoload() == 200 and live.websocket(origin) == 101
        other = LivePage(viewer.get("/live/").get_data(as_text=True), port)
        # The grant is for its own session id only.
        assert live.autoload({**other.headers, "Bokeh-Session-Id": live.session_id}) == 403
        assert viewer.post("/logout", data={"csrf_token": csrf_token(viewer, "/live/")}).status_code == 302
        # Replayed after logout: the page's id and headers, and the websocket token Bokeh gave for them.
        assert live.autoload() == 403 and other.autoload() == 403
        assert live.websocket(origin) == 403

        admin = logged_in(app, settings, "admin")
        operator = logged_in(app, settings, "operator")
        live = LivePage(operator.get("/live/").get_data(as_text=True), port)
        assert live.autoload() == 200
        with session_scope(settings.database_url) as session:
            operator_id = session.scalar(select(User.id).where(User.username == "operator-user"))
        admin.post(f"/users/{operator_id}/active", data={"active": "0", "csrf_token": csrf_token(admin, "/users/")})
        assert live.autoload() == 403 and live.websocket(origin) == 403

        brief = create_app(settings=settings.updated(bokeh={"port": port, "session_expiry_s": 1}))
        late = LivePage(logged_in(brief, settings, "viewer", "late-viewer").get("/live/").get_data(as_text=True), port)
        time.sleep(2.5)  # well past the 1 s expiry (expiries are whole seconds)
        assert late.autoload() == 403


def test_the_clip_ingest_wrote_is_played_through_the_web_app(settings: Settings, new_topic) -> None:
    scenario = Scenario(seed=5)
    start = scenario.start + 3600.0
    ingest_simulated(settings, new_topic("clips"), scenario, start, start + 100.0)
    with session_scope(settings.database_url) as session:
        windows = list(session.scalars(select(Window).order_by(Window.start_time)))
    assert len(windows) >= 2 and all(w.clip_path for w in windows)
    viewer = logged_in(create_app(settings=settings), settings, "viewer")
    for window in windows:
        clip = viewer.get(f"/live/clip/{window.id}")
        assert clip.status_code == 200 and clip.mimetype == "audio/flac"
        audio, rate = soundfile.read(io.BytesIO(clip.data))
        assert rate == settings.ingest.sim_sample_rate
        assert len(audio) / rate == pytest.approx(settings.ingest.window_s, abs=0.01)
        assert clip.data == clip_file(settings.data_dir, window.clip_path).read_bytes()
    assert viewer.get("/live/clip/999999").status_code == 404


def test_a_clip_path_leaving_the_clips_directory_is_refused(settings: Settings, tmp_path) -> None:
    windows = store_windows(settings, 4)
    secret = settings.data_dir / "secret_key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("do not serve")
    outside = tmp_path / "outside.flac"
    soundfile.write(outside, np.zeros(400, dtype=np.float32), 4000, format="FLAC")
    clips = clips_root(settings.data_dir)
    (clips / "MARS").mkdir(parents=True)
    (clips / "MARS" / "escape.flac").symlink_to(outside)
    with session_scope(settings.database_url) as session:
        session.get(Window, windows[0].window_id).clip_path = "../secret_key"
        session.get(Window, windows[1].window_id).clip_path = str(outside)  # absolute
        session.get(Window, windows[2].window_id).clip_path = "MARS/escape.flac"  # a symlink out
    viewer = logged_in(create_app(settings=settings), settings, "viewer")
    for window in windows:  # the last has no clip at all
        assert viewer.get(f"/live/clip/{window.window_id}").status_code == 404
    for bad in ("../secret_key", str(outside), "MARS/escape.flac", "MARS/../../secret_key"):
        with pytest.raises(UnsafeClipPath):
            clip_file(settings.data_dir, bad)


def test_clip_paths_stay_inside_the_clips_directory_whatever_the_hydrophone_id() -> None:
    at = dt.datetime(2026, 11, 1, 12, 0, 7, 250000, tzinfo=dt.timezone.utc).timestamp()
    assert clip_relpath("MARS", at) == "MARS/2026-11-01/20261101T120007.250Z.flac"
    assert clip_relpath("../etc", at).split("/")[0] == "..%2Fetc"
    with pytest.raises(ValueError):
        clip_relpath("..", at)
