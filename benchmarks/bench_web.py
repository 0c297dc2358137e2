"""Web benchmark: the live dashboard's initial load, the feed's poll, the API's range query, and 20 viewers.

Runs on a scratch database on the stack runner's Postgres: two hours of 30 s windows with
full-size (160 x 128) float16 spectrograms, two active models predicting every window and
50 vessels, i.e. what one hydrophone produces.  Then the real web app and Bokeh server processes
with 20 headless Chromium tabs on /live/: for each of ROUNDS new windows (stored with both models'
predictions in one transaction, as the predict stream commits them) the time from the commit until
every tab's prediction source holds it (`viewer_update_p95_s`, `viewer_update_median_s`), and the
Bokeh server's memory per viewer (its RSS with 20 tabs open less with one, over 19).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy.orm import sessionmaker

from benchmarks.common import median_ms, metric
from benchmarks.livetabs import PREDICTIONS_SHOWN, signed_in_context
from oceanwatch.access.accounts import create_user, issue_token
from oceanwatch.audio.features import FeatureSpec
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import AISPosition, MLModel, Prediction, Spectrogram, Vessel, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.messages import PackedArray
from oceanwatch.testing.scratch import scratch_database

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
SPEC = FeatureSpec()
HOURS = 2
STEP_S = 30.0
VIEWERS = int(os.environ.get("BENCH_WEB_VIEWERS", "20"))
ROUNDS = int(os.environ.get("BENCH_WEB_ROUNDS", "24"))
PASSWORD = "bench password"


def _fill(settings: Settings, first: int, count: int, model_ids: list[int], rng: np.random.Generator) -> None:
    with session_scope(settings.database_url) as session:
        for k in range(first, first + count):
            start = T0 + dt.timedelta(seconds=STEP_S * k)
            window = Window(
                hydrophone_id=settings.hydrophone.id,
                start_time=start,
                end_time=start + dt.timedelta(seconds=SPEC.window_seconds),
                sample_rate=SPEC.sample_rate,
                channels=1,
                source="bench",
            )
            session.add(window)
            session.flush()
            packed = PackedArray.pack(rng.normal(size=SPEC.input_shape), "float16")
            session.add(
                Spectrogram(
                    window_id=window.id,
                    spec_hash=SPEC.hash,
                    dtype=packed.dtype,
                    shape=list(packed.shape),
                    data=packed.data,
                )
            )
            for model_id in model_ids:
                p = rng.dirichlet(np.ones(5))
                session.add(
                    Prediction(
                        window_id=window.id,
                        model_id=model_id,
                        probabilities=p.tolist(),
                        predicted=["ABCDE"[int(p.argmax())]],
                        confidence=float(p.max()),
                        entropy=0.5,
                        epistemic=0.1,
                        aleatoric=0.4,
                    )
                )


def main() -> None:
    with scratch_database(os.environ["DATABASE_URL"], "ow_bench_web") as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=url, data_dir=Path(tmp), secret_key="bench-secret")
        results, api_rows, model_ids = run(settings)
        results |= viewers(settings, Path(tmp), model_ids)
    print(
        json.dumps(
            {
                "benchmark": "web",
                "results": results,
                "setup": {
                    "windows": int(HOURS * 3600 / STEP_S),
                    "models": 2,
                    "vessels": 50,
                    "spectrogram_shape": list(SPEC.input_shape),
                    "api_rows": api_rows,
                    "viewers": VIEWERS,
                    "rounds": ROUNDS,
                },
            }
        )
    )


def run(settings: Settings) -> tuple[dict, int, list[int]]:
    from app import create_app
    from visualization.feed import LiveFeed
    from visualization.live import LiveDashboard

    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    rng = np.random.default_rng(0)
    with session_scope(settings.database_url) as session:
        model_ids = []
        for model in ("alpha", "beta"):
            row = MLModel(
                name=model,
                version="1",
                task="multi_class",
                class_names=list("ABCDE"),
                feature_spec=SPEC.to_dict(),
                feature_spec_hash=SPEC.hash,
                artifact_path="/none",
                sha256="0" * 64,
                manifest={},
                status="active",
            )
            session.add(row)
            session.flush()
            model_ids.append(row.id)
        for mmsi in range(1, 51):
            session.add(Vessel(mmsi=mmsi, name=f"V{mmsi}", ship_type=int(rng.integers(30, 90))))
        session.flush()
        for minute in range(HOURS * 60):
            for mmsi in range(1, 51):
                session.add(
                    AISPosition(
                        mmsi=mmsi,
                        time=T0 + dt.timedelta(minutes=minute),
                        latitude=36.7 + rng.normal(0, 0.2),
                        longitude=-122.2 + rng.normal(0, 0.2),
                        msg_type=1,
                        source="bench",
                    )
                )
        token = issue_token(session, create_user(session, "bench", PASSWORD, "viewer").id)
    windows = int(HOURS * 3600 / STEP_S)
    _fill(settings, 0, windows, model_ids, rng)

    factory = sessionmaker(engine_for(settings.database_url), expire_on_commit=False)
    dashboard = LiveDashboard(
        factory, settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon, settings.truth.radii_km
    )
    feed = LiveFeed(factory, settings.truth.radii_km)
    feed.subscribe(dashboard.hydrophone_id, dashboard.apply_update, lambda: dashboard.oldest_truth_window_id)
    reload_ms = median_ms(dashboard.reload, 5)
    image_mb = sum(image.nbytes for image in dashboard.waterfall.images()) / 1e6
    next_window = windows

    def tick_with_new_rows() -> None:
        nonlocal next_window
        _fill(settings, next_window, 2, model_ids, rng)
        next_window += 2
        began = time.perf_counter()
        feed.poll()
        tick_samples.append((time.perf_counter() - began) * 1000.0)

    tick_samples: list[float] = []
    for _ in range(10):
        tick_with_new_rows()
    client = create_app(settings=settings).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    query = {"start": T0.isoformat(), "end": (T0 + dt.timedelta(hours=1)).isoformat(), "limit": 10000}
    api_ms = median_ms(lambda: client.get("/api/v1/predictions", headers=auth, query_string=query), 5)
    rows = len(client.get("/api/v1/predictions", headers=auth, query_string=query).json["predictions"])
    return (
        {
            "dashboard_initial_load_1h": {
                "value": round(reload_ms, 1),
                "unit": "ms",
                "goal": 1000,
                "higher_is_better": False,
            },
            "dashboard_initial_spectrogram_payload": {
                "value": round(image_mb, 2),
                "unit": "MB",
                "goal": 5,
                "higher_is_better": False,
            },
            "feed_poll_2_new_windows": {
                "value": round(statistics.median(tick_samples), 1),
                "unit": "ms",
                "goal": 250,
                "higher_is_better": False,
            },
            "api_predictions_1h": {"value": round(api_ms, 1), "unit": "ms", "goal": 500, "higher_is_better": False},
        },
        rows,
        model_ids,
    )


def viewers(settings: Settings, tmp: Path, model_ids: list[int]) -> dict:
    """20 tabs of the live page on the real app and Bokeh server: commit-to-drawn time on every tab."""
    import psutil
    from playwright.sync_api import sync_playwright

    from oceanwatch.testing.localserve import serve

    length = PREDICTIONS_SHOWN
    rng = np.random.default_rng(1)
    with session_scope(settings.database_url) as session:
        next_window = session.query(Window).count()
    with serve(settings, tmp) as (settings, base), sync_playwright() as p:
        bokeh = next(c for c in psutil.Process().children() if "visualization" in c.cmdline())
        browser, context = signed_in_context(p, base, "bench", PASSWORD)
        pages = []
        for i in range(VIEWERS):
            page = context.new_page()
            page.goto(f"{base}/live/", wait_until="commit")
            pages.append(page)
            if i == 0:
                page.wait_for_function(f"() => ({length})() > 0", timeout=120_000)
                one_viewer_mb = bokeh.memory_info().rss / 2**20
                all_viewers_mb = one_viewer_mb
        for page in pages:
            page.wait_for_function(f"() => ({length})() > 0", timeout=120_000)
        all_viewers_mb = bokeh.memory_info().rss / 2**20
        updates = []
        browsers = [c for c in psutil.Process().children(recursive=True) if "chrom" in c.name()]

        def cpu_s(processes: list) -> float:
            total = 0.0
            for process in processes:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total

        cpu_before = cpu_s([bokeh]), cpu_s(browsers)
        for _ in range(ROUNDS):
            before = pages[0].evaluate(length)
            _fill(settings, next_window, 1, model_ids, rng)  # committed on return
            committed = time.perf_counter()
            next_window += 1
            for page in pages:
                page.wait_for_function(f"() => ({length})() > {before}", timeout=60_000, polling=50)
            updates.append(time.perf_counter() - committed)
        bokeh_cpu, browser_cpu = cpu_s([bokeh]) - cpu_before[0], cpu_s(browsers) - cpu_before[1]
        browser.close()
    return {
        "viewer_update_p95_s": metric(float(np.percentile(updates, 95)), "s", 2.0),
        "viewer_update_median_s": metric(statistics.median(updates), "s"),
        "bokeh_rss_mb_20_viewers": metric(all_viewers_mb, "MB"),
        "bokeh_cpu_s_per_update": metric(bokeh_cpu / ROUNDS, "s"),
        "browser_cpu_s_per_update": metric(browser_cpu / ROUNDS, "s"),
        "bokeh_mb_per_viewer": metric((all_viewers_mb - one_viewer_mb) / max(VIEWERS - 1, 1), "MB"),
    }


if __name__ == "__main__":
    main()
