"""Metrics and relabelling at the scale of a year: 1.4 million 30-s windows, 6 models, 3 radii.

The data is generated inside Postgres (generate_series), so the benchmark measures the
queries, not a Python loader: 1,401,600 windows (22.5 s hop over 365 days), truth at
20/30/40 km with about a third of the windows holding a vessel from a fleet of 3,000,
and 8.4 million predictions. Then:
- metrics for one model over the whole year (report: confusion, P/R/F1) from the daily rollup
  (goal < 1 s), the weekly trend and calibration, and the same report from the raw rows (a
  range cut inside a day) for comparison; building the rollup for the year once;
- relabelling the year after a mapping change (cargo -> passenger) as the relabel job runs it
  (goal < 60 s);
- an idle truth-labeller pass over the labelled year: the service's first pass (which searches every
  window and sets its floor), then its ordinary passes (searching above the floor) against passes that
  search every window each time, as the labeller did before it kept a floor.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from typing import Any

from sqlalchemy import text

from benchmarks.common import metric
from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.migrate import upgrade
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.scoring.reports import Scope, calibration, report, trend
from oceanwatch.scoring.rollup import refresh_rollup
from oceanwatch.truth.classmap import enqueue_relabel, run_relabel, set_mapping
from oceanwatch.truth.labeller import Labeller
from oceanwatch.truth.labels import TruthConfig

WINDOWS = 1_401_600
MODELS = 6
VESSELS = 3000


GENERATE = [
    "truncate windows, vessels, models restart identity cascade",
    """insert into vessels (mmsi, name, ship_type)
       select 367000000 + v, 'V' || v, (array[30, 31, 37, 36, 60, 61, 70, 71, 80, 52])[1 + v % 10]
       from generate_series(1, :vessels) v""",
    """insert into windows (hydrophone_id, start_time, end_time, sample_rate, channels, source)
       select :hydrophone, timestamptz '2025-01-01' + make_interval(secs => k * 22.5),
              timestamptz '2025-01-01' + make_interval(secs => k * 22.5 + 30), 4000, 1, 'bench'
       from generate_series(0, :windows - 1) k""",
    """insert into truth_labels (window_id, radius_km, classes, ambiguous, vessels, buffer_vessels)
       select w.id, r.radius, '{}', false,
              case when hashint4(w.id::int) % 3 = 0 then array[367000001 + abs(hashint4(w.id::int + 7)) % :vessels]::bigint[]
                   else '{}' end,
              case when r.radius = 20 and hashint4(w.id::int) % 17 = 0 then array[367000001]::bigint[]
                   else '{}' end
       from windows w cross join (values (20), (30), (40)) r(radius)""",
    """insert into models (name, version, task, kind, class_names, feature_spec, feature_spec_hash,
                           uncertainty_method, mc_passes, description, owner, artifact_path, sha256, manifest,
                           status, healthy)
       select 'bench-' || m, '1', 'multi_class', 'keras', array['A','B','C','D','E'], '{}', 'x', 'mc_dropout', 10,
              '', 'bench', '/nowhere', repeat('0', 64), '{}', 'active', true from generate_series(1, :models) m""",
]
PREDICT = """
    insert into predictions (window_id, model_id, probabilities, predicted, confidence, entropy, epistemic, aleatoric)
    select w.id, :model, array[0.2, 0.2, 0.2, 0.2, 0.2]::real[],
           array[(array['A','B','C','D','E'])[1 + abs(hashint4(w.id::int * :model)) % 5]]::varchar[],
           0.2 + (abs(hashint4(w.id::int + :model)) % 800) / 1000.0,
           (abs(hashint4(w.id::int - :model)) % 1000) / 1000.0, 0.1, 0.2
    from windows w"""


def build_year(url: str, hydrophone: str) -> float:
    started = time.perf_counter()
    engine = engine_for(url)
    with engine.begin() as conn:
        for sql in GENERATE:
            conn.execute(
                text(sql), {"vessels": VESSELS, "windows": WINDOWS, "hydrophone": hydrophone, "models": MODELS}
            )
        conn.execute(
            text(
                "update truth_labels set classes = case when cardinality(buffer_vessels) > 0 then '{}' "
                "when cardinality(vessels) = 0 then array['E'] else array['D'] end, "
                "ambiguous = cardinality(buffer_vessels) > 0"
            )
        )
    for model in range(1, MODELS + 1):
        with engine.begin() as conn:
            conn.execute(text(PREDICT), {"model": model})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze"))
    return time.perf_counter() - started


def best_of(fn: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def labeller_passes(url: str) -> tuple[float, float, float]:
    """Seconds of an idle labeller pass over the labelled year: first, ordinary, and searching everything."""
    labeller = Labeller(url, TruthConfig(), max_wait_s=0)
    started = time.perf_counter()
    labeller.run_pass()
    first_s = time.perf_counter() - started
    full = Labeller(url, TruthConfig(), max_wait_s=0, full_scan_s=0.0)
    return first_s, best_of(labeller.run_pass), best_of(full.run_pass)


def main() -> None:
    settings = Settings()
    url = settings.require_database_url()
    upgrade(url)
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    with engine_for(url).connect() as conn:  # BENCH_REUSE=1 keeps a year built by an earlier run
        built = conn.execute(text("select count(*) from windows where source = 'bench'")).scalar_one() == WINDOWS
    build_s = 0.0 if built and os.environ.get("BENCH_REUSE") else build_year(url, settings.hydrophone.id)
    engine = engine_for(url)
    scope = Scope(model_id=1, radius_km=20)
    with engine.begin() as conn:  # the whole year counts as changed: the rollup build is measured in full
        conn.execute(
            text(
                "insert into score_dirty (day) select distinct (start_time at time zone 'UTC')::date "
                "from windows on conflict (day) do nothing"
            )
        )
    started = time.perf_counter()
    refresh_rollup(engine)  # what the truth labeller does as days change; once for a freshly loaded year
    rollup_s = time.perf_counter() - started
    raw_scope = Scope(model_id=1, radius_km=20, start=dt.datetime(2025, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc))
    with engine.connect() as conn:
        n = report(conn, scope)["n"]
        report_s = best_of(lambda: report(conn, scope))
        trend_s = best_of(lambda: trend(conn, scope, "week"))
        calibration_s = best_of(lambda: calibration(conn, scope))
        raw_s = best_of(lambda: report(conn, raw_scope), repeats=1)

    with engine.connect() as conn:  # flip cargo between D and C so a reused year still changes
        current = conn.execute(text("select class_code from class_mappings where ship_type = 70")).scalar_one()
    with session_scope(url) as session:
        edit = set_mapping(session, [70, 71], "C" if current == "D" else "D", user_id=None)
        job_id = enqueue_relabel(session, edit, None, None)
    started = time.perf_counter()
    jobs.run_next(url, {"relabel": run_relabel})
    relabel_s = time.perf_counter() - started
    started = time.perf_counter()
    refreshed_days = refresh_rollup(engine)
    rerollup_s = time.perf_counter() - started
    with engine.connect() as conn:
        changed = conn.execute(text("select result->>'changed' from jobs where id = :id"), {"id": job_id}).scalar_one()

    first_pass_s, pass_s, full_pass_s = labeller_passes(url)

    print(
        json.dumps(
            {
                "benchmark": "truth_metrics",
                "results": {
                    "metrics_one_model_year_s": metric(report_s, "s", 1.0),
                    "metrics_raw_rows_year_s": metric(raw_s, "s"),
                    "rollup_build_year_s": metric(rollup_s, "s"),
                    "weekly_trend_year_s": metric(trend_s, "s"),
                    "calibration_year_s": metric(calibration_s, "s"),
                    "relabel_year_s": metric(relabel_s, "s", 60.0),
                    "relabelled_rows": metric(int(changed), "rows", higher_is_better=True),
                    "rollup_refresh_after_relabel_s": metric(rerollup_s, "s"),
                    "rollup_days_refreshed": metric(refreshed_days, "days", higher_is_better=True),
                    "scored_windows": metric(n, "windows", higher_is_better=True),
                    "labeller_first_pass_year_s": metric(first_pass_s, "s"),
                    "labeller_idle_pass_year_s": metric(pass_s, "s"),
                    "labeller_idle_pass_searching_all_year_s": metric(full_pass_s, "s"),
                    "data_build_s": metric(build_s, "s"),
                },
                "windows": WINDOWS,
                "models": MODELS,
                "radii": 3,
            }
        )
    )


if __name__ == "__main__":
    main()
