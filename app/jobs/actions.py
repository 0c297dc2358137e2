"""Background jobs as the pages and the API list them: recent jobs of a kind, one job, cancelling one, and
queueing a backfill.

The jobs themselves (queue, claim, progress, cancel) belong to `oceanwatch.jobs`; this only reads
them for the web and asks for a cancel.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.api.args import iso, parse_integer, parse_site, parse_time
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch import jobs
from oceanwatch.db.models import Job, MLModel


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "params": job.params,
        "result": job.result,
        "cancel_requested": job.cancel_requested,
        "created_by": job.created_by,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def list_jobs(kind: str | None = jobs.JobKind.RELABEL, limit: int = 20) -> list[dict[str, Any]]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if kind:
        query = query.where(Job.kind == kind)
    return [job_dict(j) for j in db.session.scalars(query)]


def get_job(job_id: int) -> dict[str, Any] | None:
    job = db.session.get(Job, job_id)
    return job_dict(job) if job is not None else None


def cancel_job(job_id: int, user_id: int | None) -> bool:
    cancelled = jobs.request_cancel(db.session, job_id, user_id)
    db.session.commit()
    return cancelled


def queue_backfill(body: dict[str, Any], user_id: int | None) -> dict[str, Any]:
    """Queue a backfill from an API body {model_id, start, end, sites?}; every site must exist."""
    model_id = parse_integer("model_id", body.get("model_id"))
    if db.session.get(MLModel, model_id) is None:
        raise InputError(f"model_id: no model with id {model_id}", 404)
    start, end = (parse_time(name, str(body.get(name) or "")) for name in ("start", "end"))
    sites = body.get("sites")
    if sites is not None:
        if not isinstance(sites, list) or not all(isinstance(s, str) and s for s in sites):
            raise InputError("sites: a list of site ids, or absent for every site")
        for site in sites:
            parse_site(site)
    try:
        job_id = jobs.add_backfill(db.session, model_id, start, end, user_id, sites)
    except ValueError as exc:  # the queue's own refusals: an empty range, an empty list of sites
        raise InputError(str(exc)) from None
    db.session.commit()
    return job_dict(db.session.get_one(Job, job_id))
