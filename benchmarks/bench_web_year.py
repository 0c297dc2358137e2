"""The web app with a year in the database: page and API latency p95, and 20 live viewers on one Bokeh server.

Data: the year of `bench_truth` (1,401,600 windows, 6 models, 8.4 million predictions, truth at
three radii, daily scoring rollup), plus what only the newest data needs: spectrograms for the
last two hours of windows (the live page shows the newest hour) and 50 vessels' AIS positions.
Then, on a throwaway database:
- p95 of 20 requests to each page and JSON API route a user opens first (goal < 500 ms);
- 20 live viewers: the real app (werkzeug, threaded) and the real Bokeh server process, 20 tabs of
  headless Chromium on /live/; time until all render, then new windows and predictions are written
  and the time until every tab has streamed them in (p95 over rounds), and the Bokeh server's memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from sqlalchemy import text

from benchmarks.bench_truth import build_year
from benchmarks.common import metric
from benchmarks.livetabs import PREDICTIONS_SHOWN, signed_in_context
from oceanwatch.access.accounts import create_user, issue_token
from oceanwatch.audio.features import DEFAULT_SPEC
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.messages import PackedArray
from oceanwatch.scoring.rollup import refresh_rollup
from oceanwatch.testing.localserve import serve
from oceanwatch.testing.scratch import scratch_database

VIEWERS = 20
ROUNDS = 3
REPEAT = 20
PASSWORD = "bench password 1"


def _newest_extras(url: str, hydrophone: str) -> None:
    """Spectrograms for the last two hours of windows, and 50 vessels moving around the hydrophone."""
    packed = PackedArray.pack(np.random.default_rng(0).normal(size=DEFAULT_SPEC.input_shape), "float16")
    with engine_for(url).begin() as conn:
        conn.execute(
            text(
                "insert into spectrograms (window_id, spec_hash, dtype, shape, data) "
                "select id, :spec, :dtype, :shape, :data from windows "
                "where start_time > (select max(start_time) from windows) - interval '2 hours'"
            ),
            {"spec": DEFAULT_SPEC.hash, "dtype": packed.dtype, "shape": list(packed.shape), "data": packed.data},
        )
        conn.execute(
            text(
                "insert into ais_positions (mmsi, time, latitude, longitude, sog_knots, cog_deg, msg_type, source) "
                "select 367000000 + v, (select max(start_time) from windows) - make_interval(mins => m), "
                "36.7 + 0.2 * sin(v + m / 30.0), -122.2 + 0.2 * cos(v + m / 30.0), 10, 0, 1, 'bench' "
                "from generate_series(1, 50) v cross join generate_series(0, 119) m"
            )
        )


def _add_newest_windows(url: str, count: int) -> None:
    """`count` new windows after the newest, with spectrograms and a prediction from every model."""
    packed = PackedArray.pack(np.random.default_rng(1).normal(size=DEFAULT_SPEC.input_shape), "float16")
    with engine_for(url).begin() as conn:
        ids = (
            conn.execute(
                text(
                    "insert into windows (hydrophone_id, start_time, end_time, sample_rate, channels, source) "
                    "select hydrophone_id, max(start_time) + make_interval(secs => 22.5 * k), "
                    "max(start_time) + make_interval(secs => 22.5 * k + 30), 4000, 1, 'bench' "
                    "from windows cross join generate_series(1, :n) k group by hydrophone_id, k returning id"
                ),
                {"n": count},
            )
            .scalars()
            .all()
        )
        conn.execute(
            text(
                "insert into spectrograms (window_id, spec_hash, dtype, shape, data) "
                "select w, :spec, :dtype, :shape, :data from unnest(cast(:ids as bigint[])) w"
            ),
            {
                "ids": ids,
                "spec": DEFAULT_SPEC.hash,
                "dtype": packed.dtype,
                "shape": list(packed.shape),
                "data": packed.data,
            },
        )
        conn.execute(
            text(
                "insert into predictions (window_id, model_id, probabilities, predicted, confidence, entropy, "
                "epistemic, aleatoric) select w, m.id, array[0.6, 0.1, 0.1, 0.1, 0.1]::real[], array['A'], 0.6, 0.5, "
                "0.1, 0.4 from unnest(cast(:ids as bigint[])) w cross join models m"
            ),
            {"ids": ids},
        )


def _p95_ms(fn, repeat: int = REPEAT) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = fn()
        samples.append((time.perf_counter() - began) * 1000.0)
        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:300])
    return float(np.percentile(samples, 95))


def _routes(settings: Settings, token: str) -> dict[str, float]:
    from app import create_app

    client = create_app(settings=settings).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    with engine_for(settings.database_url).connect() as conn:
        newest = conn.execute(text("select max(start_time) from windows")).scalar_one()
    hour = {"start": (newest - dt.timedelta(hours=1)).isoformat(), "end": newest.isoformat(), "limit": 10000}
    day = {"start": (newest - dt.timedelta(days=1)).isoformat(), "end": newest.isoformat()}
    return {
        "page_live": _p95_ms(lambda: client.get("/live/", headers=auth)),
        "page_scores_7_days": _p95_ms(lambda: client.get("/scores/", headers=auth)),
        "page_scores_year_one_model": _p95_ms(
            lambda: client.get("/scores/", headers=auth, query_string={"model_id": 1, "preset": "all"})
        ),
        "page_data": _p95_ms(lambda: client.get("/data/", headers=auth)),
        "page_models": _p95_ms(lambda: client.get("/models/", headers=auth)),
        "api_predictions_1h": _p95_ms(lambda: client.get("/api/v1/predictions", headers=auth, query_string=hour)),
        "api_windows_1h": _p95_ms(lambda: client.get("/api/v1/windows", headers=auth, query_string=hour)),
        "api_metrics_year_one_model": _p95_ms(
            lambda: client.get("/api/v1/metrics", headers=auth, query_string={"model_id": 1})
        ),
        "api_review_entropy_1_day": _p95_ms(
            lambda: client.get(
                "/api/v1/review", headers=auth, query_string={"strategy": "entropy", "model_id": 1, **day}
            )
        ),
    }


def _viewers(settings: Settings, tmp: Path) -> dict[str, float]:
    """20 Chromium tabs on the live page of the real app and Bokeh server; updates must reach all of them."""
    from playwright.sync_api import sync_playwright

    length = PREDICTIONS_SHOWN
    with serve(settings, tmp) as (settings, base), sync_playwright() as p:
        bokeh = next(c for c in psutil.Process().children() if "visualization" in c.cmdline())
        browser, context = signed_in_context(p, base, "operator", PASSWORD)
        began = time.perf_counter()
        pages = [context.new_page() for _ in range(VIEWERS)]
        for page in pages:
            page.goto(f"{base}/live/", wait_until="commit")
        for page in pages:
            page.wait_for_function(f"() => ({length})() > 0", timeout=120_000)
        open_all_s = time.perf_counter() - began
        updates = []
        for _ in range(ROUNDS):
            before = pages[0].evaluate(length)
            _add_newest_windows(settings.database_url, 2)
            began = time.perf_counter()
            for page in pages:
                page.wait_for_function(f"() => ({length})() > {before}", timeout=60_000)
            updates.append(time.perf_counter() - began)
        rss_mb = bokeh.memory_info().rss / 2**20
        browser.close()
    return {
        "open_all_s": open_all_s,
        "update_p95_s": float(np.percentile(updates, 95)),
        "update_median_s": statistics.median(updates),
        "bokeh_rss_mb": rss_mb,
    }


def main() -> None:
    with scratch_database(os.environ["DATABASE_URL"], "ow_bench_web_year") as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=url, data_dir=Path(tmp), secret_key="bench-secret", log_format="text")
        with session_scope(url) as session:
            ensure_default_hydrophone(session, settings)
        build_s = build_year(url, settings.hydrophone.id)
        _newest_extras(url, settings.hydrophone.id)
        started = time.perf_counter()
        refresh_rollup(engine_for(url))
        rollup_s = time.perf_counter() - started
        with session_scope(url) as session:
            token = issue_token(session, create_user(session, "operator", PASSWORD, "operator").id)
        routes = _routes(settings, token)
        print(json.dumps({"routes_ms_p95": routes}), file=sys.stderr, flush=True)  # kept if the viewers part fails
        viewers = _viewers(settings, Path(tmp))
    results = {name: metric(ms, "ms p95", 500.0) for name, ms in routes.items()}
    results.update(
        {
            "viewers_20_all_rendered_s": metric(viewers["open_all_s"], "s"),
            "viewers_20_update_p95_s": metric(viewers["update_p95_s"], "s", 5.0),
            "viewers_20_update_median_s": metric(viewers["update_median_s"], "s"),
            "viewers_20_bokeh_server_rss_mb": metric(viewers["bokeh_rss_mb"], "MB"),
            "setup_year_build_s": metric(build_s, "s"),
            "setup_rollup_s": metric(rollup_s, "s"),
        }
    )
    print(
        json.dumps(
            {
                "benchmark": "web_year",
                "results": results,
                "setup": {"windows": 1_401_600, "models": 6, "viewers": VIEWERS, "rounds": ROUNDS},
            }
        )
    )


if __name__ == "__main__":
    main()
