"""The live page embeds a Bokeh session signed with the shared secret; clips are served from DATA_DIR only."""

import re

import numpy as np
import pytest
import soundfile
from bokeh.util.token import check_session_id_signature

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Window
from oceanwatch.synthetic import store_windows
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


def test_clips_are_served_from_the_data_dir_only(settings: Settings, tmp_path) -> None:
    windows = store_windows(settings, 3)
    clips = settings.data_dir / "clips"
    clips.mkdir(parents=True)
    soundfile.write(clips / "w0.flac", np.zeros(4000, dtype=np.float32), 4000, format="FLAC")
    outside = tmp_path / "secret.flac"
    soundfile.write(outside, np.zeros(400, dtype=np.float32), 4000, format="FLAC")
    with session_scope(settings.database_url) as session:
        session.get(Window, windows[0].window_id).clip_path = str(clips / "w0.flac")
        session.get(Window, windows[1].window_id).clip_path = str(outside)
    viewer = logged_in(create_app(settings=settings), settings, "viewer")
    clip = viewer.get(f"/live/clip/{windows[0].window_id}")
    assert clip.status_code == 200 and clip.mimetype == "audio/flac"
    assert clip.data == (clips / "w0.flac").read_bytes()
    assert viewer.get(f"/live/clip/{windows[1].window_id}").status_code == 404  # outside DATA_DIR
    assert viewer.get(f"/live/clip/{windows[2].window_id}").status_code == 404  # no clip
    assert viewer.get("/live/clip/999999").status_code == 404
