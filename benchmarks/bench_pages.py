"""Pages benchmark: the metrics page and API over a month of windows, and a relabel preview, apply and job.

Runs on a scratch database on the stack runner's Postgres: BENCH_PAGES_DAYS (default 30) days
of 22.5 s windows from one hydrophone (3,840 a day), truth at three radii holding one of 200
vessels in 70 % of windows, and two active models predicting every window.  The rows are
made in SQL (generate_series), so setup costs seconds, not the benchmark's budget.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from benchmarks.common import median_ms
from oceanwatch import jobs
from oceanwatch.access.accounts import create_user, issue_token
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import MLModel
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.testing.scratch import scratch_database
from oceanwatch.truth.classmap import run_relabel
from oceanwatch.truth.labels import derive_classes

STEP_S = 22.5
VESSELS = 200


def _fill(settings: Settings, days: float, model_ids: list[int]) -> int:
    """Windows ending now, truth at every radius (classes derived through the mapping), predictions."""
    n = int(days * 86400 / STEP_S)
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    with engine_for(settings.database_url).begin() as conn:
        conn.execute(text("select setseed(0.42)"))
        conn.execute(
            text(
                "insert into vessels (mmsi, name, ship_type, length_m, beam_m, tonnage) "
                "select g, 'V' || g, 30 + (g * 7) % 60, 10 + (g * 13) % 300, 3 + (g * 3) % 40, (g * 997) % 90000 "
                "from generate_series(1, :v) g"
            ),
            {"v": VESSELS},
        )
        conn.execute(
            text(
                "insert into windows (hydrophone_id, start_time, end_time, sample_rate, channels, source) "
                "select :h, :t0 + make_interval(secs => g * :step), :t0 + make_interval(secs => g * :step + :step), "
                "4000, 1, 'bench' from generate_series(0, :n - 1) g"
            ),
            {"h": settings.hydrophone.id, "t0": t0, "step": STEP_S, "n": n},
        )
        conn.execute(
            text(
                "insert into truth_labels (window_id, radius_km, classes, ambiguous, vessels, buffer_vessels) "
                "select w.id, r, '{}', true, "
                "case when random() < 0.3 then '{}'::bigint[] else array[1 + floor(random() * :v)::bigint] end, '{}' "
                "from windows w cross join unnest(cast(:radii as int[])) r"
            ),
            {"v": VESSELS, "radii": list(settings.truth.radii_km)},
        )
        derive_classes(conn)
        conn.execute(
            text(
                "insert into predictions (window_id, model_id, probabilities, predicted, confidence, entropy, epistemic, "
                "aleatoric) select w.id, m, '{0.2,0.2,0.2,0.2,0.2}', "
                "array[(array['A','B','C','D','E'])[1 + floor(random() * 5)::int]], 0.2 + random() * 0.8, random(), "
                "random() * 0.3, random() * 0.7 from windows w cross join unnest(cast(:models as int[])) m"
            ),
            {"models": model_ids},
        )
        conn.execute(text("analyze"))
    return n


def run(settings: Settings, days: float) -> tuple[dict[str, Any], dict[str, Any]]:
    from app import create_app

    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    with session_scope(settings.database_url) as session:
        model_ids = []
        for name in ("alpha", "beta"):
            row = MLModel(
                name=name,
                version="1",
                task="multi_class",
                class_names=list("ABCDE"),
                feature_spec={},
                feature_spec_hash="x",
                artifact_path="/none",
                sha256="0" * 64,
                manifest={},
                status="active",
            )
            session.add(row)
            session.flush()
            model_ids.append(row.id)
        token = issue_token(session, create_user(session, "bench", "bench password", "admin").id)
    windows = _fill(settings, days, model_ids)

    client = create_app(settings=settings).test_client()
    auth = {"Authorization": f"Bearer {token}"}

    def get(path: str, query: Any = None) -> Any:
        response = client.get(path, headers=auth, query_string=query)
        assert response.status_code == 200, (path, response.status_code)
        return response

    one_model_all = median_ms(lambda: get("/api/v1/metrics", {"model_id": model_ids[0], "bucket": "day"}), 3)
    compare_all = median_ms(lambda: get("/api/v1/metrics/compare", [("model_id", m) for m in model_ids]), 3)
    page_week = median_ms(lambda: get("/scores/"), 3)  # both active models, last 7 days
    page_all = median_ms(lambda: get("/scores/", [*[("model_id", m) for m in model_ids], ("preset", "all")]), 3)
    scored = get("/api/v1/metrics", {"model_id": model_ids[0]}).json["report"]["n"]

    edit = {"action": "mapping", "ship_types": list(range(70, 80)), "class_code": "C"}
    preview_ms = median_ms(lambda: client.post("/api/v1/relabel/preview", json=edit, headers=auth), 3)
    would_change = client.post("/api/v1/relabel/preview", json=edit, headers=auth).json["changed"]
    began = time.perf_counter()
    job_id = client.put("/api/v1/mappings", json=edit, headers=auth).json["job_id"]
    apply_ms = (time.perf_counter() - began) * 1000.0
    began = time.perf_counter()
    jobs.run_next(settings.database_url, {"relabel": run_relabel})
    relabel_s = time.perf_counter() - began
    changed = get(f"/api/v1/jobs/{job_id}").json["job"]["result"]["changed"]
    assert changed == would_change, (changed, would_change)
    stats_ms = median_ms(lambda: get("/api/v1/vessel-stats"), 3)
    data_page_ms = median_ms(lambda: get("/data/"), 3)

    def ms(value: float, goal: float) -> dict[str, Any]:
        return {"value": round(value, 1), "unit": "ms", "goal": goal, "higher_is_better": False}

    return {
        "metrics_api_one_model_all_history": ms(one_model_all, 2000),
        "metrics_compare_two_models_all_history": ms(compare_all, 2000),
        "metrics_page_two_models_last_7_days": ms(page_week, 2000),
        "metrics_page_two_models_all_history": ms(page_all, 5000),
        "relabel_preview_10_types": ms(preview_ms, 3000),
        "relabel_apply_and_enqueue": ms(apply_ms, 500),
        "relabel_job": {"value": round(relabel_s, 2), "unit": "s", "goal": 30, "higher_is_better": False},
        "vessel_stats_api": ms(stats_ms, 200),
        "data_page": ms(data_page_ms, 500),
    }, {
        "days": days,
        "windows": windows,
        "truth_rows": windows * len(settings.truth.radii_km),
        "models": 2,
        "vessels": VESSELS,
        "scored_windows_per_model": scored,
        "labels_changed_by_relabel": changed,
    }


def main() -> None:
    days = float(os.environ.get("BENCH_PAGES_DAYS", "30"))
    with scratch_database(os.environ["DATABASE_URL"], "ow_bench_pages") as url, tempfile.TemporaryDirectory() as tmp:
        results, setup = run(Settings(database_url=url, data_dir=Path(tmp), secret_key="bench-secret"), days)
    print(json.dumps({"benchmark": "pages", "results": results, "setup": setup}))


if __name__ == "__main__":
    main()
