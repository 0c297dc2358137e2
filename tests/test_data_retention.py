"""Retention: old windows lose their spectrograms and clips unless a person labelled or judged them,
and each site's storage is measured for the data page."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

from app import create_app
from oceanwatch.audio.clips import clip_file
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Spectrogram, StorageUsage, Window
from oceanwatch.sim.scenario import Scenario
from scripts.data_retention import run_retention
from tests.pipelinekit import ingest_simulated
from tests.webkit import logged_in, make_token, make_user

pytestmark = pytest.mark.integration


def _windows(settings: Settings) -> dict[int, tuple[dt.datetime, str | None, int]]:
    """window id -> (start, clip path, spectrograms)."""
    with session_scope(settings.database_url) as s:
        rows = s.execute(
            select(Window.id, Window.start_time, Window.clip_path, func.count(Spectrogram.window_id))
            .outerjoin(Spectrogram, Spectrogram.window_id == Window.id)
            .group_by(Window.id)
        ).all()
    return {w: (start, clip, n) for w, start, clip, n in rows}


def test_old_windows_lose_bulk_unless_a_person_touched_them(settings: Settings, new_topic: Callable[..., str]) -> None:
    scenario = Scenario(seed=4, start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60))
    now = time.time()
    ingest_simulated(settings, new_topic(), scenario, now - 40 * 86400, now - 40 * 86400 + 120)
    ingest_simulated(settings, new_topic(), scenario, now - 2 * 3600, now - 2 * 3600 + 120)
    before = _windows(settings)
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=settings.retention.spectrogram_days)
    old = sorted(w for w, (start, _, _) in before.items() if start < cutoff)
    recent = sorted(w for w, (start, _, _) in before.items() if start >= cutoff)
    assert len(old) >= 4 and len(recent) >= 4 and all(clip and n for _, clip, n in before.values())

    app = create_app(settings=settings)
    auth = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'ear', 'operator'))}"}
    labelled = app.test_client().post(f"/api/v1/windows/{old[0]}/label", headers=auth, json={"classes": ["D"]})
    assert labelled.status_code == 200

    outcome = run_retention(settings)
    after = _windows(settings)
    assert sorted(after) == sorted(before), "window rows are history: all kept"
    pruned = old[1:]
    assert outcome["pruned"]["clips"] == len(pruned) and outcome["pruned"]["spectrograms"] >= len(pruned)
    for w in pruned:
        assert after[w][1] is None and after[w][2] == 0
        assert not clip_file(settings.data_dir, before[w][1]).exists(), "the clip file is deleted too"
    for w in [old[0], *recent]:
        assert after[w] == before[w] and clip_file(settings.data_dir, before[w][1]).exists()
    assert run_retention(settings)["pruned"] == {"spectrograms": 0, "clips": 0, "clip_bytes": 0}

    with session_scope(settings.database_url) as s:
        measured = s.get_one(StorageUsage, settings.hydrophone.id)
        assert measured.days == 2
        kinds = measured.bytes
    assert kinds["windows"] > 0 and kinds["clips"] > 0 and kinds["ais_ranges"] == 0
    [spec_kind] = [k for k in kinds if k.startswith("spectrograms:")]
    with session_scope(settings.database_url) as s:
        stored = s.scalar(
            text("select sum(pg_column_size(data)) from spectrograms where spec_hash = :h"),
            {"h": spec_kind.split(":", 1)[1]},
        )
    assert stored <= kinds[spec_kind] <= stored * 1.1, "the spectrograms' own stored bytes, plus their small columns"

    page = logged_in(app, settings, "viewer").get("/data/").get_data(as_text=True)
    assert "Retention keeps spectrograms for 30 days" in page and f'id="storage-{settings.hydrophone.id}"' in page


def test_zero_days_keeps_everything(settings: Settings, new_topic: Callable[..., str]) -> None:
    scenario = Scenario(seed=4, start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60))
    now = time.time()
    ingest_simulated(settings, new_topic(), scenario, now - 40 * 86400, now - 40 * 86400 + 60)
    before = _windows(settings)
    forever = settings.updated(retention={"spectrogram_days": 0, "clip_days": 0})
    assert run_retention(forever)["pruned"]["spectrograms"] == 0 and _windows(settings) == before
