"""Background jobs in Postgres: enqueue, claim (one worker per job), report progress, finish, cancel.

Claiming uses `FOR UPDATE SKIP LOCKED`, so several workers can poll the same table and
never run one job twice; progress and heartbeats are plain updates pages can poll.

Queueing and cancelling take the caller's Session (a job exists exactly if the change asking for it
commits); claiming, progress and finishing commit on their own, because a running job's progress must
be visible while it runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oceanwatch.db import session_scope
from oceanwatch.db.audit import record
from oceanwatch.db.models import Job, JobStatus

log = logging.getLogger(__name__)

Runner = Callable[[str, int, dict[str, Any]], dict[str, Any]]
"""Runs one job: (database url, job id, params) -> result; reports progress through `progress`."""


class JobCancelled(Exception):
    """Raised inside a job when someone asked to cancel it."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class JobKind(StrEnum):
    """Every kind of job, named once; the comment says which service runs it."""

    BACKFILL = "backfill"  # one model over a past time range: the predict stream
    TRAIN = "train"  # train (or fine-tune) a model on labelled windows: the predict stream
    RELABEL = "relabel"  # re-derive truth after a ship-class mapping edit: the truth labeller
    BACKUP = "backup"  # "back up now" from the backups page: the backup service


def add(session: Session, kind: str, params: dict[str, Any], user_id: int | None = None) -> int:
    """Queue a job in the caller's transaction, so it exists exactly if the change that asks for it commits."""
    job = Job(kind=kind, params=params, status=JobStatus.QUEUED, created_by=user_id)
    session.add(job)
    session.flush()
    record(session, user_id, "job.enqueue", "job", job.id, kind=kind, params=params)
    return job.id


def add_backfill(
    session: Session,
    model_id: int,
    start: dt.datetime,
    end: dt.datetime,
    user_id: int | None = None,
    sites: Sequence[str] | None = None,
) -> int:
    """Queue a backfill of `model_id` over [start, end) in the caller's transaction: the windows of `sites`
    only (a site whose audio was re-ingested, say), or of every site when None."""
    if end <= start:
        raise ValueError("backfill end must be after its start")
    params: dict[str, Any] = {"model_id": model_id, "start": start.isoformat(), "end": end.isoformat()}
    if sites is not None:
        if not sites:
            raise ValueError("a backfill of no site would predict nothing: name at least one, or none for all")
        params["sites"] = sorted(set(sites))
    return add(session, JobKind.BACKFILL, params, user_id)


def enqueue_once(session: Session, kind: JobKind, user_id: int | None = None) -> int:
    """Queue a job that takes no parameters unless one of its kind is queued already (a second click reuses it)."""
    queued = session.scalar(select(Job.id).where(Job.kind == kind, Job.status == JobStatus.QUEUED).limit(1))
    return queued if queued is not None else add(session, kind, {}, user_id)


def claim(url: str, kinds: tuple[str, ...]) -> Job | None:
    """Take the oldest queued job of these kinds, or None; the job is `running` when returned."""
    with session_scope(url) as session:
        job = session.scalar(
            select(Job)
            .where(Job.status == JobStatus.QUEUED, Job.kind.in_(kinds))
            .order_by(Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if job is None:
            return None
        job.status, job.started_at, job.heartbeat_at = JobStatus.RUNNING, _now(), _now()
        return job


def progress(url: str, job_id: int, fraction: float, message: str = "") -> None:
    """Record progress; raises JobCancelled if cancellation was requested meanwhile."""
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobCancelled(f"job {job_id} vanished")
        job.progress, job.message, job.heartbeat_at = max(0.0, min(1.0, fraction)), message, _now()
        if job.cancel_requested:
            raise JobCancelled(f"job {job_id} cancelled")


def finish(url: str, job_id: int, status: str, message: str = "", result: dict[str, Any] | None = None) -> None:
    with session_scope(url) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=status,
                message=message[:4000],
                result=result,
                finished_at=_now(),
                progress=1.0 if status == JobStatus.SUCCEEDED else Job.progress,
            )
        )


def request_cancel(session: Session, job_id: int, user_id: int | None = None) -> bool:
    """Ask a job to stop; a queued job is cancelled at once, a running one at its next progress report."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return False
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at = JobStatus.CANCELLED, _now()
    record(session, user_id, "job.cancel", "job", job_id)
    return True


def run_next(url: str, runners: Mapping[str, Runner]) -> int | None:
    """Claim one queued job of the kinds `runners` handles, run it and record its outcome; its id or None."""
    job = claim(url, tuple(runners))
    if job is None:
        return None
    try:
        result = runners[job.kind](url, job.id, job.params)
    except JobCancelled:
        finish(url, job.id, JobStatus.CANCELLED, "cancelled on request")
    except Exception as exc:
        log.exception("%s job %d failed", job.kind, job.id)
        finish(url, job.id, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
    else:
        finish(url, job.id, JobStatus.SUCCEEDED, str(result.pop("message", "")), result)
    return job.id
