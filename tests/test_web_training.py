"""Training jobs from the web: the API and page queue them (operators only), and per-epoch history shows."""

from __future__ import annotations

from functools import partial

import pytest

from app import create_app
from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.training.trainjob import run_training
from tests.modelkit import TINY_SPEC
from tests.trainingkit import store_labelled
from tests.webkit import csrf_token, logged_in

pytestmark = pytest.mark.integration


def test_operators_start_training_jobs_and_watch_their_curves(settings: Settings) -> None:
    store_labelled(settings, 6, seed=4)
    app = create_app(settings=settings)
    viewer, operator = logged_in(app, settings, "viewer"), logged_in(app, settings, "operator")
    body = {"name": "web-trained", "epochs": 2, "labels": "both", "feature_spec": TINY_SPEC.to_dict()}

    refused = viewer.post("/api/v1/training", json=body, headers={"X-CSRFToken": csrf_token(viewer, "/training/")})
    assert refused.status_code == 403
    headers = {"X-CSRFToken": csrf_token(operator, "/training/")}
    assert operator.post("/api/v1/training", json={**body, "labels": "rumour"}, headers=headers).status_code == 400
    assert operator.post("/api/v1/training", json=[1], headers=headers).status_code == 400
    assert operator.post("/api/v1/training", json=body).status_code == 400, "a browser session needs the CSRF token"
    started = operator.post("/api/v1/training", json=body, headers=headers)
    assert started.status_code == 202
    job_id = started.get_json()["job_id"]

    runner = partial(run_training, models_dir=settings.data_dir / "models")
    assert jobs.run_next(settings.database_url, {jobs.JobKind.TRAIN: runner}) == job_id
    job = viewer.get(f"/api/v1/jobs/{job_id}").get_json()["job"]
    assert job["status"] == "succeeded", job["message"]
    assert [e["epoch"] for e in job["result"]["history"]] == [1, 2]

    page = viewer.get("/training/").get_data(as_text=True)
    assert f'data-job="{job_id}"' in page and "web-trained" in page and '"val_loss"' in page
    assert 'id="train-form"' not in page, "viewers see the jobs, not the form"
    form = operator.get("/training/").get_data(as_text=True)
    assert 'id="train-form"' in form
    queued = operator.post(
        "/training/",
        data={
            "csrf_token": csrf_token(operator, "/training/"),
            "name": "again",
            "labels": "human",
            "epochs": "1",
            "radius_km": "20",
        },
    )
    assert queued.status_code == 303
    assert "queued" in operator.get("/training/").get_data(as_text=True)
    bad = operator.post("/training/", data={"csrf_token": csrf_token(operator, "/training/"), "name": ""})
    assert bad.status_code == 303 and "Not started" in operator.get("/training/").get_data(as_text=True)
