"""Backups against the real Postgres: consistent under writes, restorable, failures reported, not silent."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import Backup, Hydrophone, Job, Spectrogram, Window
from oceanwatch.jobs import JobKind, enqueue_once
from scripts.backup import run_backup, run_next_job
from scripts.restore import RestoreRefused, restore
from scripts.retention import companions, dump_name

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def fast(settings: Settings, **changes: object) -> Settings:
    """No waiting between retries, plus `changes` to the backup settings."""
    return settings.updated(backup={"retry_delay_s": 0.0, **changes})


def _seed_hydrophone(url: str) -> None:
    with session_scope(url) as session:
        session.add(Hydrophone(id="H1", name="test", latitude=36.7, longitude=-122.2, channels=1))


class Writer(threading.Thread):
    """Inserts a window and its spectrogram per transaction until stopped (the concurrent load)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.written, self.stop = url, 0, threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        try:
            while not self.stop.is_set():
                with session_scope(self.url) as session:
                    t = start + dt.timedelta(seconds=22.5 * self.written)
                    window = Window(
                        hydrophone_id="H1",
                        start_time=t,
                        end_time=t + dt.timedelta(seconds=30),
                        sample_rate=4000,
                        channels=1,
                    )
                    session.add(window)
                    session.flush()
                    session.add(
                        Spectrogram(window_id=window.id, spec_hash="abc", dtype="float16", shape=[2, 2], data=b"\0" * 8)
                    )
                self.written += 1
                self.stop.wait(0.002)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def _count(url: str, model: type) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_backup_taken_during_writes_restores_to_a_consistent_database(
    settings: Settings, empty_database: str
) -> None:
    url = settings.database_url
    _seed_hydrophone(url)
    (settings.data_dir / "models" / "m1").mkdir(parents=True)
    (settings.data_dir / "models" / "m1" / "model.keras").write_bytes(b"weights")
    writer = Writer(url)
    writer.start()
    try:
        while writer.written < 20 and writer.error is None:
            writer.stop.wait(0.01)
        outcome = run_backup(fast(settings), kind="oneshot")
        backed_up_windows = writer.written
        while writer.written < backed_up_windows + 20 and writer.error is None:
            writer.stop.wait(0.01)
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None
    assert outcome.status == "succeeded", outcome.error
    manifest = json.loads(companions(outcome.path)[0].read_text())
    recorded = manifest["row_counts"]
    assert recorded["public.windows"] == recorded["public.spectrograms"] > 0, "counts share the dump's snapshot"
    assert _count(url, Window) > recorded["public.windows"], "writes went on after the snapshot"

    with session_scope(url) as session:
        row = session.get(Backup, outcome.backup_id)
    assert (row.status, row.verified, row.path, row.attempts) == ("succeeded", True, str(outcome.path), 1)
    assert row.sha256 == manifest["dump"]["sha256"] and row.size_bytes == outcome.path.stat().st_size

    files_to = settings.data_dir.parent / "restored-files"
    report = restore(outcome.path, empty_database, settings, row.sha256, files_to)
    assert report.ok, report.mismatches
    with engine_for(empty_database).connect() as conn:
        restored = conn.execute(text("select count(*) from windows")).scalar_one()
        orphans = conn.execute(
            text(
                "select (select count(*) from spectrograms s left join windows w on w.id = s.window_id where w.id is null)"
                " + (select count(*) from windows w left join hydrophones h on h.id = w.hydrophone_id where h.id is null)"
            )
        ).scalar_one()
        fks = conn.execute(text("select count(*) from pg_constraint where contype = 'f' and convalidated")).scalar_one()
    assert restored == recorded["public.windows"] and orphans == 0 and fks > 0
    assert (files_to / "models" / "m1" / "model.keras").read_bytes() == b"weights"


def test_a_failing_pg_dump_is_recorded_logged_and_retried(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        script = fake / tool
        script.write_text(
            "#!/bin/sh\n"
            'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi\n'
            'echo "pg_dump: error: connection to server failed: simulated outage" >&2; exit 1\n'
        )
        script.chmod(0o755)
    with caplog.at_level(logging.INFO, logger="backup"):
        outcome = run_backup(fast(settings, pg_bin_dir=str(fake), retries=2), kind="oneshot")
    assert outcome.status == "failed" and "simulated outage" in outcome.error
    with session_scope(settings.database_url) as session:
        row = session.get(Backup, outcome.backup_id)
    assert (row.status, row.attempts, row.verified, row.path) == ("failed", 2, False, None)
    assert "simulated outage" in row.error and row.finished_at is not None
    failed = [r for r in caplog.records if getattr(r, "event", None) == "backup.failed"]
    assert len(failed) == 1 and failed[0].backup_id == outcome.backup_id and failed[0].levelno == logging.ERROR
    assert len([r for r in caplog.records if getattr(r, "event", None) == "backup.attempt_failed"]) == 2
    assert not any(settings.resolved_backup_dir().iterdir()), "a failed run leaves no partial files"


def _one_shot(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.data_dir),
        "BACKUP_RETRY_DELAY_S": "0",
        "BACKUP_RETRIES": "1",
        "LOG_FORMAT": "json",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "scripts.backup", "--once"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_one_shot_exits_non_zero_with_a_log_line_on_a_bad_binary_or_a_wrong_port(
    settings: Settings, tmp_path: Path
) -> None:
    proc = _one_shot(settings, PG_BIN_DIR=str(tmp_path / "no-such-dir"))
    assert proc.returncode == 1
    failed = [e for e in _events(proc.stderr) if e.get("event") == "backup.failed"]
    assert failed and "PG_BIN_DIR" in failed[0]["error"]
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Backup.status).where(Backup.id == failed[0]["backup_id"])) == "failed"

    from sqlalchemy.engine import make_url

    from oceanwatch.runtime.embedded import free_port

    wrong = make_url(settings.database_url).set(port=free_port()).render_as_string(hide_password=False)
    proc = _one_shot(settings, DATABASE_URL=wrong)
    assert proc.returncode == 1
    assert any(e.get("event") == "backup.failed" and e["level"] == "ERROR" for e in _events(proc.stderr))


def test_one_shot_succeeds_with_exit_zero(settings: Settings) -> None:
    proc = _one_shot(settings)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and Path(result["path"]).is_file()


def test_restore_refuses_a_non_empty_target_and_a_damaged_file(settings: Settings, empty_database: str) -> None:
    outcome = run_backup(fast(settings))
    assert outcome.status == "succeeded"
    before = _count(settings.database_url, Backup)
    with pytest.raises(RestoreRefused, match="not empty"):
        restore(outcome.path, settings.database_url, settings)
    assert _count(settings.database_url, Backup) == before, "the non-empty target was not touched"

    with engine_for(empty_database).begin() as conn:
        conn.execute(text("create table somebody_elses (x int)"))
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.restore", str(outcome.backup_id), "--target-url", empty_database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": settings.database_url, "LOG_FORMAT": "json"},
    )
    assert proc.returncode == 2
    assert any(e.get("event") == "restore.refused" and "somebody_elses" in e["error"] for e in _events(proc.stderr))

    with open(outcome.path, "r+b") as dump:
        dump.seek(100)
        dump.write(b"\xff\xfe")
    with pytest.raises(RestoreRefused, match="SHA-256"):
        restore(outcome.path, empty_database, settings)


def test_restore_by_id_from_the_command_line(settings: Settings, empty_database: str) -> None:
    _seed_hydrophone(settings.database_url)
    outcome = run_backup(fast(settings))
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.restore", str(outcome.backup_id), "--target-url", empty_database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": settings.database_url, "LOG_FORMAT": "json"},
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["mismatches"] == {}
    with engine_for(empty_database).connect() as conn:
        assert conn.execute(text("select id from hydrophones")).scalars().all() == ["H1"]


def test_backup_now_job_runs_once_even_if_requested_twice(settings: Settings) -> None:
    url = settings.database_url
    with session_scope(url) as session:
        job_id = enqueue_once(session, JobKind.BACKUP)
    with session_scope(url) as session:
        assert enqueue_once(session, JobKind.BACKUP) == job_id, "a second click while queued reuses the queued job"
    assert run_next_job(fast(settings)) == job_id
    assert run_next_job(fast(settings)) is None
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        backup = session.get(Backup, job.result["backup_id"])
    assert job.status == "succeeded" and backup.kind == "requested" and backup.status == "succeeded"


def test_retention_runs_after_a_successful_backup(settings: Settings) -> None:
    settings = fast(settings, keep_daily=2, keep_weekly=0)
    out = settings.resolved_backup_dir()
    out.mkdir(parents=True)
    now = dt.datetime.now(dt.timezone.utc)
    old = [out / dump_name(now - dt.timedelta(days=d), 1000 + d) for d in (1, 2, 3)]
    for dump in old:
        for path in (dump, *companions(dump)):
            path.write_bytes(b"old")
    (out / "notes.txt").write_text("not a backup: never touched")
    outcome = run_backup(settings)
    assert outcome.status == "succeeded"
    assert sorted(outcome.pruned) == sorted(p.name for p in old[1:])
    remaining = sorted(p.name for p in out.iterdir())
    expected = sorted(
        [
            outcome.path.name,
            *(c.name for c in companions(outcome.path) if c.exists()),
            old[0].name,
            *(c.name for c in companions(old[0])),
            "notes.txt",
        ]
    )
    assert remaining == expected


def test_leftovers_of_a_killed_run_are_removed_and_never_mistaken_for_backups(settings: Settings) -> None:
    out = settings.resolved_backup_dir()
    out.mkdir(parents=True)
    leftover = out / (dump_name(dt.datetime.now(dt.timezone.utc), 999) + ".partial")
    leftover.write_bytes(b"half a dump")
    outcome = run_backup(fast(settings))
    assert outcome.status == "succeeded" and not leftover.exists()
    assert sorted(p.suffix for p in out.iterdir()) == [".dump", ".json"]


def test_two_backups_at_once_both_succeed_one_after_the_other(settings: Settings) -> None:
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(run_backup(fast(settings)))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
    first, second = sorted(outcomes, key=lambda o: o.backup_id)
    assert first.path != second.path
    # same day: retention keeps the newest *finished* one; the other was complete, then pruned
    kept = [o for o in outcomes if o.path.is_file()]
    pruned = [n for o in outcomes for n in o.pruned]
    assert len(kept) == 1 and len(pruned) == 1 and kept[0].path.name not in pruned
    with session_scope(settings.database_url) as session:
        statuses = sorted(session.scalars(select(Backup.status)).all())
    assert statuses == ["pruned", "succeeded"]
