"""Backups admin: the list of backup runs and a "backup now" button (admins only).

"Backup now" only queues a `backup` job; the backup service (`python -m scripts.backup`)
claims and runs it, so the web request never waits for pg_dump.

Access: admins only (`app.web.auth.requires_role`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select

from app.web.auth import current_user_id, requires_role
from app.web.extensions import db
from oceanwatch.db.models import Backup, Job, JobStatus
from oceanwatch.jobs import JobKind, enqueue_once

bp = Blueprint("backups_admin", __name__, url_prefix="/admin/backups")

PAGE_SIZE = 100


@bp.get("/")
@requires_role("admin")
def index() -> Any:
    backups = db.session.scalars(select(Backup).order_by(Backup.id.desc()).limit(PAGE_SIZE)).all()
    pending = db.session.scalars(
        select(Job)
        .where(Job.kind == JobKind.BACKUP, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .order_by(Job.id)
    ).all()
    return render_template("backups/backups.html", backups=backups, pending=pending)


@bp.post("/now")
@requires_role("admin")
def backup_now() -> Any:
    job_id = enqueue_once(db.session, JobKind.BACKUP, current_user_id())
    db.session.commit()
    flash(f"Backup queued (job {job_id}); the backup service runs it within seconds.")
    return redirect(url_for("backups_admin.index"))
