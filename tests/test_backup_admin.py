"""The backups admin page: admins only; "backup now" queues a job the service runs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import Backup, Job, User
from oceanwatch.jobs import JobKind
from scripts.backup import run_next_job
from tests.webkit import csrf_token, logged_in

pytestmark = pytest.mark.integration


def test_only_admins_get_in(settings: Settings) -> None:
    app = create_app(settings=settings)
    anonymous = app.test_client()
    assert anonymous.get("/admin/backups/").status_code == 302  # to the login page
    assert logged_in(app, settings, "operator").get("/admin/backups/").status_code == 403
    viewer = logged_in(app, settings, "viewer")
    assert viewer.post("/admin/backups/now", headers={"X-CSRFToken": csrf_token(viewer, "/live/")}).status_code == 403
    assert logged_in(app, settings, "admin").get("/admin/backups/").status_code == 200
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Job.id).where(Job.kind == JobKind.BACKUP)) is None


def test_backup_now_queues_a_job_that_the_service_runs_and_the_page_lists(settings: Settings) -> None:
    client = logged_in(create_app(settings=settings, overrides={"WTF_CSRF_ENABLED": False}), settings, "admin")
    with session_scope(settings.database_url) as session:
        admin_id = session.scalar(select(User.id).where(User.username == "admin-user"))
    admin: dict[str, str] = {}
    response = client.post("/admin/backups/now", headers=admin)
    assert response.status_code == 302
    with session_scope(settings.database_url) as session:
        job = session.scalars(select(Job).where(Job.kind == JobKind.BACKUP)).one()
    assert job.status == "queued" and job.created_by == admin_id, "queued in the admin's name (audited)"
    page = client.get("/admin/backups/", headers=admin).get_data(as_text=True)
    assert f"job {job.id} (queued)" in page

    assert run_next_job(settings.updated(backup={"retry_delay_s": 0.0})) == job.id
    with session_scope(settings.database_url) as session:
        backup = session.scalars(select(Backup)).one()
    page = client.get("/admin/backups/", headers=admin).get_data(as_text=True)
    assert f'id="backup-{backup.id}"' in page and backup.path in page and backup.sha256[:12] in page
    assert "job " not in page.split('id="backups"')[0], "no job pending any more"


def test_the_views_declare_the_role_they_require(settings: Settings) -> None:
    app = create_app(settings=settings)
    for endpoint in ("backups_admin.index", "backups_admin.backup_now"):
        assert app.view_functions[endpoint].required_role == "admin"
