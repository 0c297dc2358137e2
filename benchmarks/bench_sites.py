"""Sites per machine: the whole platform with S simulated hydrophones, and the largest S it keeps up with.

Each trial runs every service the demo runs (ingest with features and clips, the AIS simulator,
the truth labeller, predict with 3 active baseline models at 10 MC passes, web and Bokeh) on a
scratch database and its own topic prefix on the stack runner's Postgres and broker, with S
simulator sites spread over the scenario's 60 km region (with the default site the migrations
seed, S + 1 sites are served; figures count every site served).

The simulated clock may run `speed` times faster than the wall clock: every site then produces
windows `speed` times as often, so S sites at speed k load the machine like S x k sites at real
time (every cost here is per window), and a window must have its predictions within 22.5 / k s of
wall time for a site to keep its one-hop budget.  Lag is measured in simulated seconds: (when the
last of a window's 3 predictions was stored - when its end happened on the simulated clock) x k.
A window still short of predictions at the end counts with the lag it has so far.

A trial passes when every site's lag p95 stays below one hop (22.5 s) over the measured minutes
(after a warm-up while models load).  The search doubles S from BENCH_SITES_START until a trial
fails, then bisects, and prints `max_realtime_sites` (S x k of the largest passing trial),
`cpu_seconds_per_site_hour`, `peak_rss_mb` and each process group's share of the CPU at that limit.

Environment: BENCH_SITES_MINUTES (measured minutes per trial, default 10), BENCH_SITES_SPEED
(default 1), BENCH_SITES_START (default 8), BENCH_SITES_MAX (default 640), BENCH_SITES_WARMUP_S
(default 60), BENCH_SITES_INGEST_PROCESSES (ingest processes sharing the sites by INGEST_SHARD_COUNT,
default 1: run it with 1 and with 2 to compare one process serving every site with several).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from benchmarks.common import metric
from oceanwatch.audio.features import DEFAULT_SPEC, window_hop_seconds
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Prediction, Window
from oceanwatch.geo import GEOD
from oceanwatch.kafka import ensure_topics, platform_topics
from oceanwatch.registry import store
from oceanwatch.runtime.demo import service_specs
from oceanwatch.sim.clock import SimClock
from oceanwatch.sites.store import create_site
from oceanwatch.testing.localserve import service_process
from oceanwatch.testing.scratch import scratch_database
from oceanwatch.training.baseline import build_baseline, write_package

MODELS = 3
CLASSES = ["cargo", "tanker", "passenger", "fishing", "none"]
SERVICES = ("ingest", "predict_stream", "ais_stream", "truth_labeller", "web", "visualization")
SPREAD_KM = 40.0
HOP_S = window_hop_seconds(DEFAULT_SPEC.window_seconds)  # a site's lag budget, in simulated seconds


@dataclass(frozen=True)
class Trial:
    sites: int
    served: int
    speed: float
    passed: bool
    worst_site_lag_p95_s: float
    median_lag_s: float
    windows: int
    cpu_s: dict[str, float]
    peak_rss_mb: float
    ingest_processes: int
    ingest_peak_rss_mb: float  # all ingest processes together
    measured_wall_s: float

    @property
    def site_equivalents(self) -> float:
        return self.served * self.speed

    def cpu_seconds_per_site_hour(self) -> float:
        sim_hours = self.measured_wall_s * self.speed / 3600.0
        return sum(self.cpu_s.values()) / (self.served * sim_hours)


def site_positions(center_lat: float, center_lon: float, count: int) -> list[tuple[float, float]]:
    """`count` positions on a square grid SPREAD_KM wide around the scenario centre (some near the
    lanes, some far from any ship, like a real network)."""
    side = int(np.ceil(np.sqrt(count)))
    step_m = SPREAD_KM * 1000.0 / max(side - 1, 1)
    out = []
    for k in range(count):
        east = (k % side - (side - 1) / 2) * step_m
        north = (k // side - (side - 1) / 2) * step_m
        lon, lat, _ = GEOD.fwd(center_lon, center_lat, 90.0, east)
        lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north)
        out.append((float(lat), float(lon)))
    return out


def site_id(k: int) -> str:
    return f"S{k:04d}"


def seed(settings: Settings, sites: int, root: Path) -> None:
    """S active simulator sites and 3 deployed baseline models, as an operator would add them."""
    with session_scope(settings.require_database_url()) as session:
        for k, (lat, lon) in enumerate(site_positions(settings.hydrophone.lat, settings.hydrophone.lon, sites)):
            create_site(
                session,
                site_id(k),
                {"name": f"bench site {k}", "latitude": lat, "longitude": lon, "source": {"kind": "simulator"}},
                None,
            )
    for i in range(MODELS):
        package = write_package(
            root / f"model{i}",
            build_baseline(DEFAULT_SPEC, len(CLASSES), seed=i),
            DEFAULT_SPEC,
            CLASSES,
            f"m{i}",
            "1",
            {},
        )
        with store.open_package(package) as (keras_path, manifest):
            with session_scope(settings.require_database_url()) as session:
                store.deploy(session, store.register(session, settings.data_dir / "models", keras_path, manifest))


def _listener(port: int) -> int | None:
    """The pid serving `port` on this machine (the stack runner's Postgres or broker)."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def _group(proc: psutil.Process, roots: dict[int, str]) -> str | None:
    """Which part of the platform a process is: a service, Postgres or the broker, or a child of one."""
    try:
        if proc.pid in roots:
            return roots[proc.pid]
        return next((roots[p.pid] for p in proc.parents() if p.pid in roots), None)
    except psutil.Error:
        return None


class Meter:
    """CPU seconds per process group since `start`, the peak of their summed RSS, and each group's peak."""

    def __init__(self, roots: dict[int, str]) -> None:
        self.roots = roots
        self.base: dict[int, tuple[str, float]] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.peak_rss = 0.0
        self.peak_group_rss: dict[str, float] = defaultdict(float)

    def _sample(self) -> dict[int, tuple[str, float]]:
        seen: dict[int, tuple[str, float]] = {}
        by_group: dict[str, float] = defaultdict(float)
        for proc in psutil.process_iter():
            group = _group(proc, self.roots)
            if group is None:
                continue
            try:
                times = proc.cpu_times()
                by_group[group] += proc.memory_info().rss
            except psutil.Error:
                continue
            seen[proc.pid] = (group, times.user + times.system)
        self.peak_rss = max(self.peak_rss, sum(by_group.values()))
        for group, rss in by_group.items():
            self.peak_group_rss[group] = max(self.peak_group_rss[group], rss)
        return seen

    def start(self) -> None:
        self.base = self._sample()
        self.peak_rss = 0.0
        self.peak_group_rss.clear()

    def tick(self) -> None:
        self.last.update(self._sample())

    def cpu(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for pid, (group, total) in self.last.items():
            out[group] += total - self.base.get(pid, (group, 0.0))[1]
        return dict(out)


def lags(settings: Settings, clock: SimClock, since_wall: float, until_wall: float) -> dict[str, list[float]]:
    """Per site, each window's lag in simulated seconds (windows ending on the simulated clock between
    the two wall times; unfinished ones count with the lag they have at `until_wall`)."""
    since = dt.datetime.fromtimestamp(clock.sim_time(since_wall), dt.timezone.utc)
    until = dt.datetime.fromtimestamp(clock.sim_time(until_wall), dt.timezone.utc)
    done = func.max(Prediction.created_at)
    with session_scope(settings.require_database_url()) as session:
        rows = session.execute(
            select(Window.hydrophone_id, Window.end_time, done, func.count(Prediction.id))
            .outerjoin(Prediction, Prediction.window_id == Window.id)
            .where(Window.end_time >= since, Window.end_time < until)
            .group_by(Window.id)
        ).all()
    out: dict[str, list[float]] = defaultdict(list)
    for site, end, stored, count in rows:
        finished = stored.timestamp() if stored is not None and count >= MODELS else until_wall
        out[site].append((finished - clock.wall_time(end.timestamp())) * clock.speed)
    return out


def _broker_port(settings: Settings) -> int:
    return int(settings.require_kafka().split(",")[0].rsplit(":", 1)[1])


def trial(server_url: str, sites: int, speed: float, minutes: float, warmup_s: float, ingests: int = 1) -> Trial:
    """One run of the whole platform with `sites` sites at `speed` and `ingests` ingest processes sharing
    the sites (INGEST_SHARD_COUNT); nothing survives it."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    with scratch_database(server_url, "ow_bench_sites") as url, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = SimClock(time.time(), speed)
        settings = Settings(database_url=url, data_dir=root, secret_key="bench-secret").updated(
            log_format="text",
            kafka={"topic_prefix": prefix},
            simulator={"speed": speed, "anchor": dt.datetime.fromtimestamp(clock.anchor, dt.timezone.utc).isoformat()},
        )
        ensure_topics(settings.require_kafka(), settings.kafka.partitions, platform_topics(settings))
        seed(settings, sites, root)
        env = {**os.environ, **settings.to_env(), "SECRET_KEY": "bench-secret", "DATA_DIR": str(root)}
        specs = {spec.name: spec for spec in service_specs(settings)}
        with ExitStack() as stack:
            pids = {}
            for name in SERVICES:
                shards = range(ingests) if name == "ingest" else [None]
                for k in shards:
                    shard_env = (
                        env if k is None else {**env, "INGEST_SHARD_COUNT": str(ingests), "INGEST_SHARD_INDEX": str(k)}
                    )
                    log = root / (f"{name}.log" if k is None else f"{name}{k}.log")
                    proc = stack.enter_context(service_process(specs[name].argv, shard_env, log))
                    pids[proc.pid] = name
            for name, port in (("postgres", make_url(url).port), ("broker", _broker_port(settings))):
                listener = _listener(port or 0)
                if listener is not None:
                    pids[listener] = name
            meter = Meter(pids)
            time.sleep(warmup_s)
            began = time.time()
            meter.start()
            while time.time() < began + minutes * 60:
                time.sleep(5)
                meter.tick()
            ended = time.time()
            # windows ending in the last hop may not be due yet: measure those that had a whole hop
            per_site = lags(settings, clock, began, ended - HOP_S / speed)
            cpu = meter.cpu()
    seeded = {site_id(k) for k in range(sites)}
    p95s = {site: float(np.percentile(v, 95)) for site, v in per_site.items()}
    every = [x for v in per_site.values() for x in v]
    worst = max(p95s.values()) if p95s else float("inf")
    return Trial(
        sites=sites,
        served=len(p95s),
        speed=speed,
        passed=seeded <= set(p95s) and worst < HOP_S,
        worst_site_lag_p95_s=worst,
        median_lag_s=statistics.median(every) if every else float("inf"),
        windows=len(every),
        cpu_s=cpu,
        peak_rss_mb=meter.peak_rss / 2**20,
        ingest_processes=ingests,
        ingest_peak_rss_mb=meter.peak_group_rss["ingest"] / 2**20,
        measured_wall_s=ended - began,
    )


def search(
    server_url: str, start: int, most: int, speed: float, minutes: float, warmup_s: float, ingests: int
) -> list[Trial]:
    """Double S until a trial fails (or `most`), then bisect between the last pass and the first failure."""
    trials: list[Trial] = []

    def run(sites: int) -> Trial:
        result = trial(server_url, sites, speed, minutes, warmup_s, ingests)
        print(json.dumps({"trial": asdict(result)}), file=sys.stderr, flush=True)
        trials.append(result)
        return result

    low, high = 0, None
    sites = start
    while sites <= most:
        if run(sites).passed:
            low, sites = sites, sites * 2
        else:
            high = sites
            break
    while high is not None and high - low > max(low // 8, 1):
        middle = (low + high) // 2
        if run(middle).passed:
            low = middle
        else:
            high = middle
    return trials


def report(trials: list[Trial]) -> dict[str, Any]:
    passing = [t for t in trials if t.passed]
    best = max(passing, key=lambda t: t.sites) if passing else min(trials, key=lambda t: t.sites)
    total = sum(best.cpu_s.values()) or 1.0
    return {
        "benchmark": "sites",
        "results": {
            "max_realtime_sites": metric(best.site_equivalents if passing else 0, "sites", 300, higher_is_better=True),
            "cpu_seconds_per_site_hour": metric(best.cpu_seconds_per_site_hour(), "s", None),
            "peak_rss_mb": metric(best.peak_rss_mb, "MB", None),
            "worst_site_lag_p95_s_at_limit": metric(best.worst_site_lag_p95_s, "s", HOP_S),
        },
        "where_time_goes": {group: round(cpu / total, 3) for group, cpu in sorted(best.cpu_s.items())},
        "trials": [
            {
                "sites": t.sites,
                "served": t.served,
                "speed": t.speed,
                "passed": t.passed,
                "worst_site_lag_p95_s": round(t.worst_site_lag_p95_s, 2),
                "median_lag_s": round(t.median_lag_s, 2),
                "windows": t.windows,
                "cpu_cores": round(sum(t.cpu_s.values()) / t.measured_wall_s, 2),
                "ingest_processes": t.ingest_processes,
                "ingest_peak_rss_mb": round(t.ingest_peak_rss_mb),
            }
            for t in trials
        ],
        "setup": {
            "models": MODELS,
            "mc_passes": 10,
            "hop_s": HOP_S,
            "cores": os.cpu_count(),
        },
    }


def main() -> None:
    env = os.environ
    trials = search(
        env["DATABASE_URL"],
        int(env.get("BENCH_SITES_START", "8")),
        int(env.get("BENCH_SITES_MAX", "640")),
        float(env.get("BENCH_SITES_SPEED", "1")),
        float(env.get("BENCH_SITES_MINUTES", "10")),
        float(env.get("BENCH_SITES_WARMUP_S", "60")),
        int(env.get("BENCH_SITES_INGEST_PROCESSES", "1")),
    )
    print(json.dumps(report(trials)))


if __name__ == "__main__":
    main()
