"""Scheduled Postgres backups: pg_dump (custom format), checksum, verification, retention.

`python -m scripts.backup` is the service: it runs a backup at BACKUP_AT and every
BACKUP_EVERY_HOURS after, and any "backup now" job an admin queued.  `python -m
scripts.backup --once` runs one backup and exits non-zero if it failed.

One run writes three files in BACKUP_DIR, all named after the dump:
- `oceanwatch-<UTC time>-<id>.dump`: the pg_dump custom-format archive;
- `...json`: the manifest, with the row count of every table *in the dump's own snapshot*
  (the counts and pg_dump share an exported snapshot, so writers running meanwhile cannot
  make them disagree), the checksums, and the versions; `scripts.restore` checks against it;
- `...files.tar`: the companion tar of the DATA_DIR subdirectories in BACKUP_FILES (model
  artifacts, clips).  It is made after the dump: artifacts are written before their database
  rows, so every model the dump knows has its file in the tar.
Each run is a row in `backups` and a line in the structured log; a failed attempt is retried
(BACKUP_RETRIES, with doubling waits) and the row ends `failed` with the error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schedule
from sqlalchemy import text, update

from oceanwatch import jobs
from oceanwatch.checksums import sha256_file
from oceanwatch.config import Settings, get_settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import Backup, BackupStatus
from oceanwatch.runtime.logs import configure_logging
from oceanwatch.runtime.service import StopFlag, run_service
from scripts.data_retention import run_retention
from scripts.pgtools import PgTools, find_tools, libpq_args, stderr_tail
from scripts.retention import PREFIX, companions, dump_name, parse_dump_name, schedule_times, select_for_deletion

log = logging.getLogger("backup")

# Serialises backups across processes (a scheduled run and a "backup now" job, or two replicas).
_LOCK_KEY = 0x0CEA_BAC0


class BackupError(RuntimeError):
    """One attempt failed; the message is what the backups row and the log record."""


@dataclass
class Outcome:
    """What a run did: the backups row id, its final status, and where the files are."""

    backup_id: int
    status: str
    path: Path | None = None
    error: str | None = None
    attempts: int = 0
    pruned: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "status": self.status,
            "path": str(self.path) if self.path else None,
            "error": self.error,
            "attempts": self.attempts,
            "pruned": self.pruned,
        }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _table_keys(conn: Any) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            text(
                "select schemaname, tablename from pg_tables "
                "where schemaname not in ('pg_catalog', 'information_schema') order by 1, 2"
            )
        )
    ]


def count_rows(conn: Any) -> dict[str, int]:
    """Rows per table ("schema.table"), in the connection's current transaction."""
    quote = conn.dialect.identifier_preparer.quote
    return {
        f"{schema}.{table}": conn.execute(text(f"select count(*) from {quote(schema)}.{quote(table)}")).scalar_one()
        for schema, table in _table_keys(conn)
    }


def _run_tool(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, env=env)
    except OSError as exc:  # a missing or non-executable binary is a failed attempt, not a crash
        raise BackupError(f"{args[0]}: {exc}") from exc


def _dump(url: str, settings: Settings, target: Path) -> tuple[dict[str, int], PgTools, str]:
    """pg_dump into `target` from an exported snapshot whose row counts it returns."""
    engine = engine_for(url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("select pg_export_snapshot()")).scalar_one()
            server_version = conn.execute(text("show server_version")).scalar_one()
            server_major = int(conn.execute(text("show server_version_num")).scalar_one()) // 10000
            counts = count_rows(conn)
            tools = find_tools(settings, server_major)
            args, env = libpq_args(url)
            # Level 1: spectrograms (most of the bytes) are noise-like; measured 5x faster than the
            # default level for a 6 % bigger dump (benchmarks/bench_backup.py).
            proc = _run_tool(
                [
                    tools.path("pg_dump"),
                    "--format=custom",
                    "--compress=1",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    *args,
                ],
                env,
            )
            if proc.returncode != 0:
                raise BackupError(f"pg_dump failed: {stderr_tail(proc)}")
    return counts, tools, server_version


def verify(tools: PgTools, dump: Path, counts: dict[str, int]) -> None:
    """`pg_restore --list` reads the archive, and it holds the data of every table that was counted."""
    proc = _run_tool([tools.path("pg_restore"), "--list", str(dump)])
    if proc.returncode != 0:
        raise BackupError(f"verification failed: pg_restore --list: {stderr_tail(proc)}")
    listed = set()
    for line in proc.stdout.splitlines():
        parts = line.split()
        if " TABLE DATA " in f" {line} " and len(parts) >= 7:
            listed.add(f"{parts[5]}.{parts[6]}")
    missing = sorted(set(counts) - listed)
    if missing:
        raise BackupError(f"verification failed: no table data in the archive for {', '.join(missing)}")


def _tar_files(settings: Settings, target: Path) -> dict[str, Any] | None:
    """The companion tar of the configured DATA_DIR subdirectories that exist, or None."""
    names = [n.strip() for n in settings.backup.files.split(",") if n.strip()]
    present = [n for n in names if (settings.data_dir / n).is_dir()]
    if not present:
        return None
    with tarfile.open(target, "w") as tar:
        for name in present:
            tar.add(settings.data_dir / name, arcname=name)
    return {"dirs": present}


@contextmanager
def _exclusive(url: str) -> Iterator[None]:
    """Hold the backup advisory lock (session level) for the duration of the block."""
    with engine_for(url).connect() as conn:
        conn.execute(text("select pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()


def _attempt(settings: Settings, backup_id: int, started: dt.datetime) -> tuple[Path, dict[str, Any]]:
    """One complete try: dump, tar, verify, manifest.

    Files are written as `*.partial` and renamed at the end, manifest last, so a file under its
    final name is complete and a dump with a manifest is verified.  Under the lock no other run
    is writing, so `*.partial` files found then are leftovers of a killed run and are removed.
    """
    url = settings.require_database_url()
    out_dir = settings.resolved_backup_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    dump = out_dir / dump_name(started, backup_id)
    manifest_path, tar_path = companions(dump)
    partial = {p: p.with_name(p.name + ".partial") for p in (tar_path, dump, manifest_path)}
    with _exclusive(url):
        for leftover in out_dir.glob(f"{PREFIX}*.partial"):
            leftover.unlink(missing_ok=True)
        try:
            counts, tools, server_version = _dump(url, settings, partial[dump])
            files = _tar_files(settings, partial[tar_path])
            verify(tools, partial[dump], counts)
            manifest: dict[str, Any] = {
                "backup_id": backup_id,
                "created_at": started.isoformat(),
                "database": engine_for(url).url.database,
                "server_version": server_version,
                "pg_dump_major": tools.major,
                "dump": {
                    "file": dump.name,
                    "sha256": sha256_file(partial[dump]),
                    "size_bytes": partial[dump].stat().st_size,
                },
                "files": None
                if files is None
                else {
                    **files,
                    "file": tar_path.name,
                    "sha256": sha256_file(partial[tar_path]),
                    "size_bytes": partial[tar_path].stat().st_size,
                },
                "row_counts": counts,
            }
            partial[manifest_path].write_text(json.dumps(manifest, indent=2, sort_keys=True))
            for final, temp in partial.items():  # tar, dump, then the manifest
                if temp.exists():
                    os.replace(temp, final)
            return dump, manifest
        finally:
            for temp in partial.values():
                temp.unlink(missing_ok=True)


def _record(url: str, backup_id: int, **values: Any) -> None:
    with session_scope(url) as session:
        session.execute(update(Backup).where(Backup.id == backup_id).values(**values))


def prune(settings: Settings) -> list[str]:
    """Delete the dumps (and their companions) retention no longer keeps; mark their rows `pruned`."""
    out_dir = settings.resolved_backup_dir()
    if not out_dir.is_dir():
        return []
    times = {p.name: parsed[0] for p in out_dir.iterdir() if (parsed := parse_dump_name(p.name))}
    doomed = sorted(select_for_deletion(times, settings.backup.keep_daily, settings.backup.keep_weekly))
    for name in doomed:
        dump = out_dir / name
        for path in (dump, *companions(dump)):
            path.unlink(missing_ok=True)
    if doomed:
        with session_scope(settings.require_database_url()) as session:
            session.execute(
                update(Backup).where(Backup.path.in_([str(out_dir / n) for n in doomed])).values(status="pruned")
            )
        log.info("retention deleted %d backup(s)", len(doomed), extra={"event": "backup.pruned", "files": doomed})
    return doomed


def run_backup(settings: Settings, kind: str = "scheduled", wait: Callable[[float], object] = time.sleep) -> Outcome:
    """One backup run with bounded retries, recorded in `backups` and the log; never raises for a failed dump."""
    url = settings.require_database_url()
    started = _utcnow()
    with session_scope(url) as session:
        row = Backup(kind=kind, status=BackupStatus.RUNNING, attempts=0, verified=False, started_at=started)
        session.add(row)
        session.flush()
        backup_id = row.id
    log.info("backup %d started", backup_id, extra={"event": "backup.started", "backup_id": backup_id, "kind": kind})
    attempts = max(1, settings.backup.retries)
    error = ""
    for attempt in range(1, attempts + 1):
        _record(url, backup_id, attempts=attempt)
        clock = time.monotonic()
        try:
            dump, manifest = _attempt(settings, backup_id, started)
        except Exception as exc:  # any failure of one attempt is retried, then reported
            error = str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "backup %d attempt %d/%d failed: %s",
                backup_id,
                attempt,
                attempts,
                error,
                extra={"event": "backup.attempt_failed", "backup_id": backup_id, "attempt": attempt, "error": error},
            )
            if attempt < attempts:
                wait(settings.backup.retry_delay_s * 2 ** (attempt - 1))
            continue
        seconds = round(time.monotonic() - clock, 3)
        _record(
            url,
            backup_id,
            status=BackupStatus.SUCCEEDED,
            path=str(dump),
            size_bytes=manifest["dump"]["size_bytes"],
            sha256=manifest["dump"]["sha256"],
            verified=True,
            error=None,
            finished_at=_utcnow(),
        )
        log.info(
            "backup %d succeeded: %s",
            backup_id,
            dump,
            extra={
                "event": "backup.succeeded",
                "backup_id": backup_id,
                "path": str(dump),
                "size_bytes": manifest["dump"]["size_bytes"],
                "sha256": manifest["dump"]["sha256"],
                "tables": len(manifest["row_counts"]),
                "rows": sum(manifest["row_counts"].values()),
                "seconds": seconds,
                "attempts": attempt,
            },
        )
        return Outcome(backup_id, BackupStatus.SUCCEEDED, dump, attempts=attempt, pruned=prune(settings))
    _record(url, backup_id, status=BackupStatus.FAILED, error=error, finished_at=_utcnow())
    log.error(
        "backup %d failed after %d attempt(s): %s",
        backup_id,
        attempts,
        error,
        extra={"event": "backup.failed", "backup_id": backup_id, "attempts": attempts, "error": error},
    )
    return Outcome(backup_id, BackupStatus.FAILED, error=error, attempts=attempts)


def run_next_job(settings: Settings, wait: Callable[[float], object] = time.sleep) -> int | None:
    """Claim and run one queued "backup now" job; returns its id, or None when none was queued."""
    url = settings.require_database_url()
    job = jobs.claim(url, (jobs.JobKind.BACKUP,))
    if job is None:
        return None
    outcome = run_backup(settings, kind="requested", wait=wait)
    jobs.finish(url, job.id, outcome.status, outcome.error or f"backup {outcome.backup_id}", outcome.as_dict())
    return job.id


def install_schedule(scheduler: schedule.Scheduler, settings: Settings, job: Callable[[], object]) -> None:
    """Register the backup runs BACKUP_AT / BACKUP_EVERY_HOURS describe (service-local time)."""
    times = schedule_times(settings.backup.at, settings.backup.every_hours)
    if settings.backup.every_hours > 24:
        scheduler.every(settings.backup.every_hours // 24).days.at(times[0]).do(job)
        return
    for at in times:
        scheduler.every().day.at(at).do(job)


def serve(settings: Settings, stop: StopFlag) -> None:
    """The service loop: scheduled backups and data-retention passes, and "backup now" jobs polled
    every few seconds."""
    scheduler = schedule.Scheduler()
    install_schedule(scheduler, settings, lambda: run_backup(settings, "scheduled", stop.wait))
    retention_pass = scheduler.every(round(settings.retention.every_hours * 3600)).seconds.do(run_retention, settings)
    try:
        retention_pass.run()  # at start too: a platform restarted after a long stop prunes now, not hours later
    except Exception:  # the database may still be starting: the schedule tries again
        log.exception("retention pass failed")
    log.info(
        "backups scheduled at %s; next at %s; writing to %s",
        ", ".join(schedule_times(settings.backup.at, settings.backup.every_hours)),
        scheduler.next_run,
        settings.resolved_backup_dir().resolve(),
        extra={"event": "backup.scheduled"},
    )
    while not stop.is_set():
        try:
            scheduler.run_pending()
            if run_next_job(settings, stop.wait) is not None:
                continue
        except Exception:  # a database hiccup must not end the service; the supervisor would restart it anyway
            log.exception("backup loop error")
        stop.wait(min(5.0, max(0.5, scheduler.idle_seconds or 5.0)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.backup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--once", action="store_true", help="run one backup now and exit (non-zero if it failed)")
    args = parser.parse_args(argv)
    if not args.once:
        run_service("backup", serve)
        return 0
    settings = get_settings()
    configure_logging("backup", settings.log_level, settings.log_format)
    try:
        outcome = run_backup(settings, kind="oneshot")
    except Exception as exc:  # not even the backups row could be written: say so and fail loudly
        log.error("backup could not start: %s", exc, extra={"event": "backup.failed", "error": str(exc)})
        return 1
    print(json.dumps(outcome.as_dict()), flush=True)
    return 0 if outcome.status == BackupStatus.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
