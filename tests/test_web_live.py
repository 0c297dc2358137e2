"""The live page embeds a Bokeh session signed with the shared secret; it plays the clips ingest wrote,
and nothing outside DATA_DIR/clips."""

import datetime as dt
import io
import re

import numpy as np
import pytest
import soundfile
from bokeh.util.token import check_session_id_signature
from sqlalchemy import select

from app import create_app
from oceanwatch.clips import UnsafeClipPath, clip_file, clip_relpath, clips_root
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Window
from oceanwatch.scenario import Scenario
from oceanwatch.synthetic import store_windows
from tests.pipelinekit import ingest_simulated
from tests.webkit import logged_in

pytestmark = pytest.mark.integration


def test_live_page_embeds_a_signed_session_of_the_bokeh_server(settings: Settings) -> None:
    settings = settings.model_copy(update={"bokeh_port": 5999})
    viewer = logged_in(create_app(settings=settings), settings, "viewer")
    page = viewer.get("/live/").get_data(as_text=True)
    assert "http://127.0.0.1:5999/live/autoload.js" in page
    session_id = re.search(r'"Bokeh-Session-Id", "([^"]+)"', page).group(1)
    assert check_session_id_signature(session_id, secret_key=settings.secret_key.encode(), signed=True)
    assert not check_session_id_signature(session_id, secret_key=b"some-other-secret", signed=True)
    other = re.search(r'"Bokeh-Session-Id", "([^"]+)"', viewer.get("/live/").get_data(as_text=True)).group(1)
    assert other != session_id  # a fresh session per page load


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
        assert rate == settings.ingest_sim_sample_rate
        assert len(audio) / rate == pytest.approx(settings.ingest_window_s, abs=0.01)
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
