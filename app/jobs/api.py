"""/api/v1/jobs: recent background jobs, one job's status and progress (poll it), cancelling one, and backfills."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.api.args import json_object
from app.api.routes import Routes, json_body, param
from app.jobs import actions
from app.web.auth import current_user_id

routes = Routes()
JOB_ID = param("job_id", "path", "job id", {"type": "integer"})


@routes.route(
    "/jobs",
    "GET",
    "viewer",
    "Recent background jobs (relabel by default), newest first",
    parameters=[param("kind", "query", "job kind; empty for every kind", {"type": "string", "default": "relabel"})],
)
def list_jobs() -> Any:
    return jsonify(jobs=actions.list_jobs(request.args.get("kind", "relabel") or None))


@routes.route(
    "/jobs/<int:job_id>",
    "GET",
    "viewer",
    "One job with status and progress (poll it)",
    parameters=[JOB_ID],
    responses={"404": "no such job"},
)
def get_job(job_id: int) -> Any:
    job = actions.get_job(job_id)
    if job is None:
        return jsonify(error=f"no job with id {job_id}"), 404
    return jsonify(job=job)


@routes.route(
    "/jobs/<int:job_id>/cancel",
    "POST",
    "operator",
    "Ask a queued or running job to stop",
    parameters=[JOB_ID],
    responses={"409": "the job has already finished"},
)
def cancel_job(job_id: int) -> Any:
    if not actions.cancel_job(job_id, current_user_id()):
        return jsonify(error=f"job {job_id} is not queued or running"), 409
    return jsonify(job=actions.get_job(job_id))


@routes.route(
    "/jobs/backfill",
    "POST",
    "operator",
    "Queue a backfill: one model over a past range of stored windows, of some sites or all",
    request_body=json_body(
        {
            "required": ["model_id", "start", "end"],
            "properties": {
                "model_id": {"type": "integer"},
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
                "sites": {"type": "array", "items": {"type": "string"}, "description": "absent: every site"},
            },
        }
    ),
    responses={"202": "queued (poll /jobs/{job_id})", "400": "invalid body or unknown site", "404": "no such model"},
)
def queue_backfill() -> Any:
    return jsonify(job=actions.queue_backfill(json_object(), current_user_id())), 202
