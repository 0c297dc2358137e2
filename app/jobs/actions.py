"""Background jobs as the pages and the API list them: recent jobs of a kind, one job, and cancelling one.

The jobs themselves (queue, claim, progress, cancel) belong to `oceanwatch.jobs`; this only reads
them for the web and asks for a cancel.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.api.args import iso
from app.web.extensions import db
from oceanwatch import jobs
from oceanwatch.db.models import Job


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
