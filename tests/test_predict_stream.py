"""The predict stream: every active model on every window, live model changes, crashes lose nothing."""

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Job, MLModel, Prediction, Window
from oceanwatch.kafka import make_consumer, make_producer
from oceanwatch.messages import PredictionMessage
from oceanwatch.registry import store
from oceanwatch.sim.scenario import Scenario
from oceanwatch.testing.synthetic import T0, publish
from oceanwatch.testing.synthetic import store_windows as _store_windows
from oceanwatch.testing.waiting import wait_for
from predict_stream import __main__ as predict_main
from predict_stream.backfill import run_backfill, run_next_job
from predict_stream.worker import ModelPool, PredictWorker, run_forever
from tests.modelkit import TINY_SPEC, runnable_model, tiny_model
from tests.pipelinekit import ingest_simulated
from tests.webkit import csrf_token, login, make_token, make_user

pytestmark = pytest.mark.integration


def store_windows(settings: Settings, count: int, **kwargs):
    return _store_windows(settings, count, spec=TINY_SPEC, **kwargs)


def _count(url: str, model_id: int | None = None) -> int:
    with session_scope(url) as s:
        query = select(func.count()).select_from(Prediction)
        if model_id is not None:
            query = query.where(Prediction.model_id == model_id)
        return s.scalar(query)


def _worker(
    settings: Settings, topic: str, out_topic: str, group: str, max_batch: int = 256, grace_s: float = 0.0
) -> PredictWorker:
    """A worker whose reconciler, unless told otherwise, takes windows however fresh (the tests store them now)."""
    consumer = make_consumer(settings, group, topic)
    return PredictWorker(
        settings.database_url,
        ModelPool(settings.database_url),
        consumer,
        make_producer(settings),
        out_topic,
        max_batch,
        reconcile_grace_s=grace_s,
    )


def test_every_active_model_predicts_every_window_once(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    mc = runnable_model(settings, tmp_path, "mc", passes=6)
    plain = runnable_model(settings, tmp_path, "plain", method="none", passes=1)
    runnable_model(settings, tmp_path, "idle", deploy=False)
    topic, out = new_topic(), new_topic()
    messages = store_windows(settings, 12)
    producer = make_producer(settings)
    publish(producer, topic, messages)
    publish(producer, topic, messages[:4])  # a replayed/duplicated message must not duplicate rows
    worker = _worker(settings, topic, out, f"g-{topic}")
    assert wait_for(lambda: (worker.step(500), _count(settings.database_url) >= 24)[1])
    worker.step(500)
    assert _count(settings.database_url, mc) == 12 and _count(settings.database_url, plain) == 12
    with session_scope(settings.database_url) as s:
        rows = s.scalars(select(Prediction)).all()
        model = s.get(MLModel, mc)
        assert model.last_prediction_at is not None
    for row in rows:
        assert abs(sum(row.probabilities) - 1.0) < 1e-4 and len(row.predicted) == 1
        assert 0.0 <= row.entropy <= 1.0 and row.latency_ms is not None and row.latency_ms >= 0
        assert (row.epistemic is None) == (row.model_id == plain)
    consumer = make_consumer(settings, f"read-{out}", out)
    got = []
    assert wait_for(lambda: (got.extend(r for b in consumer.poll(500).values() for r in b), len(got) >= 24)[1])
    consumer.close()
    decoded = [PredictionMessage.decode(r.value) for r in got]
    assert {(m.window_id, m.model_id) for m in decoded} == {(r.window_id, r.model_id) for r in rows}
    assert len(decoded) == 24


def test_deploy_and_deactivate_are_picked_up_without_restart(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    a = runnable_model(settings, tmp_path, "alpha")
    b = runnable_model(settings, tmp_path, "beta", deploy=False)
    topic, out = new_topic(), new_topic()
    worker = _worker(settings, topic, out, f"g-{topic}")
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(worker, 0.3, stop.is_set), daemon=True)
    thread.start()
    producer = make_producer(settings)
    try:
        publish(producer, topic, store_windows(settings, 3, first=0))
        assert wait_for(lambda: _count(settings.database_url, a) == 3)
        with session_scope(settings.database_url) as session:
            store.deploy(session, b)
        publish(producer, topic, store_windows(settings, 3, first=3))
        assert wait_for(lambda: _count(settings.database_url, b) == 3 and _count(settings.database_url, a) == 6)
        with session_scope(settings.database_url) as session:
            store.deactivate(session, a)
        time.sleep(1.0)  # more than one interval
        publish(producer, topic, store_windows(settings, 3, first=6))
        assert wait_for(lambda: _count(settings.database_url, b) == 6)
        time.sleep(1.0)
        assert _count(settings.database_url, a) == 6
    finally:
        stop.set()
        thread.join(10)
        worker.consumer.close()


def test_a_failing_model_is_marked_unhealthy_and_the_others_go_on(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    good = runnable_model(settings, tmp_path, "good")
    bad = runnable_model(settings, tmp_path, "bad")
    topic, out = new_topic(), new_topic()
    worker = _worker(settings, topic, out, f"g-{topic}")
    loaded = {m.model_id: m for m in worker.pool.refresh()}

    def explode(_x):
        raise RuntimeError("GPU on fire")

    loaded[bad].predict = explode  # fault injection into one loaded model
    publish(make_producer(settings), topic, store_windows(settings, 5))
    assert wait_for(lambda: (worker.step(500), _count(settings.database_url, good) == 5)[1])
    with session_scope(settings.database_url) as s:
        row = s.get(MLModel, bad)
        assert row.healthy is False and "GPU on fire" in row.last_error
    assert _count(settings.database_url, bad) == 0
    assert worker.totals["model_failure"] == 1
    with session_scope(settings.database_url) as session:
        store.deploy(session, bad)  # redeploying clears the failure
    with session_scope(settings.database_url) as s:
        assert s.get(MLModel, bad).healthy is True


def test_garbage_and_unknown_windows_are_counted_not_fatal(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    runnable_model(settings, tmp_path, "solo")
    topic, out = new_topic(), new_topic()
    producer = make_producer(settings)
    producer.send(topic, key=b"x", value=b"\x00not msgpack")
    real = store_windows(settings, 2)
    ghost = type(real[0])(**{**real[0].__dict__, "window_id": 10_000_000})
    publish(producer, topic, real + [ghost])
    worker = _worker(settings, topic, out, f"g-{topic}")
    assert wait_for(lambda: (worker.step(500), _count(settings.database_url) == 2)[1])
    assert worker.totals["bad_message"] == 1 and worker.totals["unknown_window"] == 1


WORKER_SCRIPT = """
import sys, threading
from oceanwatch.config import Settings
from oceanwatch.kafka import make_consumer, make_producer
from predict_stream.worker import ModelPool, PredictWorker, run_forever
url, bootstrap, topic, out, group = sys.argv[1:6]
s = Settings(database_url=url).updated(kafka={"bootstrap_servers": bootstrap})
w = PredictWorker(url, ModelPool(url), make_consumer(s, group, topic), make_producer(s), out, max_batch=10)
run_forever(w, 0.2, lambda: False)
"""


def test_killed_mid_batch_and_restarted_gives_exactly_one_prediction_per_window_and_model(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    models = [runnable_model(settings, tmp_path, name, passes=16) for name in ("m1", "m2")]
    topic, out = new_topic(), new_topic()
    publish(make_producer(settings), topic, store_windows(settings, 200))
    args = [
        sys.executable,
        "-c",
        WORKER_SCRIPT,
        settings.database_url,
        settings.kafka.bootstrap_servers,
        topic,
        out,
        f"g-{topic}",
    ]
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _count(settings.database_url) >= 40, 120), "worker made no progress"
        os.kill(first.pid, signal.SIGKILL)  # no chance to commit offsets or finish the batch
        first.wait()
        partial = _count(settings.database_url)
        assert partial < 400, "the kill must land mid-run to test anything"
        second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_for(lambda: _count(settings.database_url) >= 400, 180)
            time.sleep(1.5)
        finally:
            second.kill()
            second.wait()
    finally:
        if first.poll() is None:
            first.kill()
    for model_id in models:
        assert _count(settings.database_url, model_id) == 200
    with session_scope(settings.database_url) as s:
        pairs = s.execute(select(Prediction.window_id, Prediction.model_id)).all()
    assert len(pairs) == len(set(pairs)) == 400


def test_two_workers_in_one_group_split_the_partitions(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    runnable_model(settings, tmp_path, "shared")
    topic, out = new_topic(partitions=4), new_topic()
    group = f"g-{topic}"
    workers = [_worker(settings, topic, out, group) for _ in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=run_forever, args=(w, 0.3, stop.is_set), daemon=True) for w in workers]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: all(w.consumer.assignment() for w in workers), 60), "both must get partitions"
        parts = [{tp.partition for tp in w.consumer.assignment()} for w in workers]
        assert parts[0].isdisjoint(parts[1]) and parts[0] | parts[1] == {0, 1, 2, 3}
        publish(make_producer(settings), topic, store_windows(settings, 40, hydrophones=8))
        assert wait_for(lambda: _count(settings.database_url) == 40)
        assert wait_for(lambda: sum(w.totals["windows"] for w in workers) == 40), "each window handled once"
        assert all(w.totals["windows"] > 0 for w in workers), "both workers must have done work"
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for w in workers:
            w.consumer.close()


def test_backfill_job_predicts_a_past_range_with_progress(settings: Settings, tmp_path: Path) -> None:
    model_id = runnable_model(settings, tmp_path, "late", deploy=False)
    store_windows(settings, 30)
    start, end = T0 + dt.timedelta(seconds=22.5 * 5), T0 + dt.timedelta(seconds=22.5 * 25)
    with session_scope(settings.database_url) as session:
        job_id = jobs.add_backfill(session, model_id, start, end)
    assert run_next_job(settings.database_url) == job_id
    assert _count(settings.database_url, model_id) == 20
    with session_scope(settings.database_url) as s:
        job = s.get(Job, job_id)
        assert job.status == "succeeded" and job.progress == 1.0 and job.result["predicted"] == 20
    with session_scope(settings.database_url) as session:
        again = jobs.add_backfill(session, model_id, T0, end)
    run_next_job(settings.database_url)  # overlaps the first run: only the 5 new windows are predicted
    with session_scope(settings.database_url) as s:
        assert s.get(Job, again).result == {"total": 5, "predicted": 5, "missing_features": 0}
    with session_scope(settings.database_url) as session:
        cancelled = jobs.add_backfill(session, model_id, T0, end)
    with session_scope(settings.database_url) as session:
        assert jobs.request_cancel(session, cancelled)
    assert run_next_job(settings.database_url) is None
    with pytest.raises(ValueError):
        with session_scope(settings.database_url) as session:
            jobs.add_backfill(session, model_id, end, start)


def test_a_backfill_of_one_site_through_the_api_predicts_that_sites_windows_only(
    settings: Settings, tmp_path: Path
) -> None:
    """An operator queues a per-site backfill (API and page); the job predicts that site's windows, no other."""
    model_id = runnable_model(settings, tmp_path, "per-site", deploy=False)
    messages = store_windows(settings, 30, hydrophones=3)
    by_site: dict[str, int] = {}
    for m in messages:
        by_site[m.hydrophone_id] = by_site.get(m.hydrophone_id, 0) + 1
    client = create_app(settings=settings).test_client()
    operator = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'filler', 'operator'))}"}
    viewer = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'looker', 'viewer'))}"}
    body = {"model_id": model_id, "start": T0.isoformat(), "end": (T0 + dt.timedelta(hours=1)).isoformat()}

    assert client.post("/api/v1/jobs/backfill", json={**body, "sites": ["H1"]}, headers=viewer).status_code == 403
    refusals = {
        "unknown site": ({**body, "sites": ["NOWHERE"]}, 400),
        "empty site list": ({**body, "sites": []}, 400),
        "end before start": ({**body, "end": body["start"]}, 400),
        "unknown model": ({**body, "model_id": 999999}, 404),
        "bad time": ({**body, "start": "yesterday"}, 400),
    }
    for case, (bad, status) in refusals.items():
        answer = client.post("/api/v1/jobs/backfill", json=bad, headers=operator)
        assert answer.status_code == status and answer.json["error"], case
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0, "a refused backfill queues nothing"

    answer = client.post("/api/v1/jobs/backfill", json={**body, "sites": ["H1"]}, headers=operator)
    assert answer.status_code == 202 and answer.json["job"]["params"]["sites"] == ["H1"]
    assert run_next_job(settings.database_url) == answer.json["job"]["id"]
    with session_scope(settings.database_url) as s:
        predicted = s.execute(
            select(Window.hydrophone_id, func.count())
            .join(Prediction, Prediction.window_id == Window.id)
            .where(Prediction.model_id == model_id)
            .group_by(Window.hydrophone_id)
        ).all()
    assert dict(predicted) == {"H1": by_site["H1"]}
    job = client.get(f"/api/v1/jobs/{answer.json['job']['id']}", headers=operator).json["job"]
    assert job["status"] == "succeeded" and job["result"]["predicted"] == by_site["H1"]

    # Then every site, from the models page's form: only the windows still lacking a prediction.
    page = create_app(settings=settings).test_client()
    login(page, "filler")
    token = csrf_token(page, "/models/")
    done = page.post("/models/backfill", data={**body, "site": "", "csrf_token": token}, follow_redirects=True)
    assert "Backfill queued as job" in done.get_data(as_text=True)
    run_next_job(settings.database_url)
    assert _count(settings.database_url, model_id) == 30
    bad = page.post("/models/backfill", data={**body, "site": "NOWHERE", "csrf_token": token}, follow_redirects=True)
    assert "Backfill not queued: site: no site" in bad.get_data(as_text=True)


def test_a_backfill_refuses_an_artifact_that_is_not_the_registered_one(settings: Settings, tmp_path: Path) -> None:
    """Every path that loads a model checks its artifact: a replaced file fails the job, predicts nothing."""
    model_id = runnable_model(settings, tmp_path, "swapped", deploy=False)
    store_windows(settings, 4)
    with session_scope(settings.database_url) as s:
        artifact = Path(s.get(MLModel, model_id).artifact_path)
    tiny_model(seed=99).save(artifact)  # a different model under the registered path
    with session_scope(settings.database_url) as session:
        job_id = jobs.add_backfill(session, model_id, T0, T0 + dt.timedelta(hours=1))
    assert run_next_job(settings.database_url) == job_id
    with session_scope(settings.database_url) as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and "checksum" in job.message
    assert _count(settings.database_url, model_id) == 0


def _ingest(settings: Settings, topic: str, world: Scenario, hours_ago: float, seconds: float) -> set[int]:
    """Ids of the windows the ingest service's own writer stores for that span (publishing them to `topic`)."""
    start = time.time() - hours_ago * 3600
    ingest_simulated(settings, topic, world, start, start + seconds)
    with session_scope(settings.database_url) as s:
        return set(
            s.scalars(
                select(Window.id).where(
                    Window.start_time >= dt.datetime.fromtimestamp(start - 30, dt.timezone.utc),
                    Window.start_time < dt.datetime.fromtimestamp(start + seconds, dt.timezone.utc),
                )
            )
        )


def _pairs(url: str) -> list[tuple[int, int]]:
    with session_scope(url) as s:
        return sorted((w, m) for w, m in s.execute(select(Prediction.window_id, Prediction.model_id)))


def _published_pairs(settings: Settings, topic: str, expected: int) -> list[tuple[int, int]]:
    """(window, model) of every prediction message on `topic`, read until `expected` arrived and a poll more."""
    consumer = make_consumer(settings, f"read-{topic}", topic)
    got = []
    assert wait_for(lambda: (got.extend(r for b in consumer.poll(500).values() for r in b), len(got) >= expected)[1])
    got.extend(r for b in consumer.poll(1000).values() for r in b)
    consumer.close()
    return sorted((m.window_id, m.model_id) for m in (PredictionMessage.decode(r.value) for r in got))


def _world() -> Scenario:
    return Scenario(seed=3, start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30))


def test_windows_kafka_never_delivered_are_reconciled_for_every_active_model(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    mc = runnable_model(settings, tmp_path, "mc", passes=4)
    plain = runnable_model(settings, tmp_path, "plain", method="none", passes=1)
    runnable_model(settings, tmp_path, "idle", deploy=False)
    world = _world()
    nowhere = new_topic("lost")  # ingest died between commit and publish: no predict worker reads this
    old = _ingest(settings, nowhere, world, hours_ago=26, seconds=100)
    recent = _ingest(settings, nowhere, world, hours_ago=2, seconds=160)
    assert old and len(recent) >= 5 and not old & recent
    topic, out = new_topic(), new_topic()
    worker = _worker(settings, topic, out, f"g-{topic}")
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(worker, 0.3, stop.is_set), daemon=True)
    thread.start()  # its first reconcile pass runs at start, as after an outage
    try:
        assert wait_for(lambda: len(_pairs(settings.database_url)) >= 2 * len(recent), 120)
    finally:
        stop.set()
        thread.join(30)
        worker.consumer.close()
    assert worker.reconcile().predictions == 0  # a further pass finds nothing left to do
    assert _pairs(settings.database_url) == sorted((w, m) for w in recent for m in (mc, plain))
    assert _published_pairs(settings, out, 2 * len(recent)) == _pairs(settings.database_url)


def test_reconciler_leaves_freshly_stored_windows_to_kafka_so_they_keep_their_latency(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    model = runnable_model(settings, tmp_path, "plain", method="none", passes=1)
    topic, out = new_topic(), new_topic()
    fresh = _ingest(settings, topic, _world(), hours_ago=1, seconds=100)  # stored and published just now
    worker = _worker(settings, topic, out, f"g-{topic}", grace_s=600)
    assert worker.reconcile().predictions == 0, "a window Kafka is still delivering is not the reconciler's"
    assert wait_for(lambda: (worker.step(500), _count(settings.database_url) >= len(fresh))[1])
    worker.consumer.close()
    with session_scope(settings.database_url) as s:
        rows = s.execute(select(Prediction.window_id, Prediction.latency_ms).where(Prediction.model_id == model)).all()
    assert {w for w, _ in rows} == fresh and all(latency is not None for _, latency in rows)


def test_published_and_unpublished_windows_get_exactly_one_prediction_with_two_workers(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    models = [
        runnable_model(settings, tmp_path, "mc", passes=4),
        runnable_model(settings, tmp_path, "plain", method="none"),
    ]
    world = _world()
    topic, out = new_topic(partitions=4), new_topic()
    lost = _ingest(settings, new_topic("lost"), world, hours_ago=1, seconds=160)
    published = _ingest(settings, topic, world, hours_ago=3, seconds=160)
    windows = published | lost
    group = f"g-{topic}"
    workers = [_worker(settings, topic, out, group) for _ in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=run_forever, args=(w, 0.3, stop.is_set), daemon=True) for w in workers]
    for t in threads:
        t.start()  # both reconcile at start, racing each other and the Kafka loop for the published windows
    try:
        assert wait_for(lambda: len(_pairs(settings.database_url)) >= len(models) * len(windows), 120)
        assert wait_for(lambda: sum(w.totals["windows"] for w in workers) >= len(published), 60), "Kafka delivered"
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        for w in workers:
            w.consumer.close()
    assert _pairs(settings.database_url) == sorted((w, m) for w in windows for m in models)
    assert _published_pairs(settings, out, len(models) * len(windows)) == _pairs(settings.database_url), (
        "each (window, model) published once"
    )


def test_deploying_a_model_catches_it_up_with_a_job_shown_in_the_jobs_api(
    settings: Settings, tmp_path: Path, new_topic: Callable[..., str]
) -> None:
    runnable_model(settings, tmp_path, "current")
    world = _world()
    old = _ingest(settings, new_topic(), world, hours_ago=25, seconds=100)
    recent = _ingest(settings, new_topic(), world, hours_ago=4, seconds=160)
    assert old and len(recent) >= 5
    newer = runnable_model(settings, tmp_path, "newer", deploy=False)
    client = create_app(settings=settings).test_client()
    auth = {"Authorization": f"Bearer {make_token(settings, make_user(settings, 'deployer', 'operator'))}"}
    assert client.post(f"/api/v1/models/{newer}/deploy", headers=auth).status_code == 200
    listed = client.get("/api/v1/jobs?kind=backfill", headers=auth).json["jobs"]
    [job] = [j for j in listed if j["params"]["model_id"] == newer]
    assert job["status"] == "queued"
    span = dt.datetime.fromisoformat(job["params"]["end"]) - dt.datetime.fromisoformat(job["params"]["start"])
    assert span == dt.timedelta(hours=settings.predict.catchup_hours)
    stop = threading.Event()
    thread = threading.Thread(
        target=predict_main._job_loop, args=(settings, stop, {jobs.JobKind.BACKFILL: run_backfill}), daemon=True
    )
    thread.start()
    try:
        assert wait_for(
            lambda: client.get(f"/api/v1/jobs/{job['id']}", headers=auth).json["job"]["status"]
            not in ("queued", "running"),
            120,
        )
    finally:
        stop.set()
        thread.join(30)
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=auth).json["job"]
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    assert done["message"] == f"{len(recent)} predictions" and done["result"]["predicted"] == len(recent)
    assert {w for w, m in _pairs(settings.database_url) if m == newer} == recent  # the older window is left alone
