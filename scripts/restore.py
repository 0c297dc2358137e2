"""Restore a backup into an empty database and prove it: checksum first, row counts after.

    python -m scripts.restore <dump file | backups id> --target-url URL [--files-to DIR]

The target must exist and be empty (no tables, views or sequences outside the system
schemas): restoring over live data would mix two histories, so a non-empty target is
refused.  The dump's SHA-256 must match its manifest (and the `backups` row when restoring
by id), the restore runs in one transaction (all or nothing), and afterwards every table's
row count must equal the count recorded in the manifest at backup time.  `--files-to`
also unpacks the companion tar (model artifacts, clips) into that directory.

Exit status: 0 restored and verified, 1 failed or counts differ, 2 refused before touching
the target (not empty, unknown backup, checksum mismatch).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from oceanwatch.checksums import sha256_file
from oceanwatch.config import Settings, get_settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import Backup, BackupStatus
from oceanwatch.runtime.logs import configure_logging
from scripts.backup import count_rows
from scripts.pgtools import find_tools, libpq_args, stderr_tail
from scripts.retention import companions

log = logging.getLogger("restore")


class RestoreRefused(RuntimeError):
    """The restore was not attempted; the target is untouched."""


class RestoreFailed(RuntimeError):
    """pg_restore failed (the single transaction left the target empty again)."""


@dataclass
class RestoreReport:
    dump: Path
    tables: int
    rows: int
    mismatches: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    files_restored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        return {
            "dump": str(self.dump),
            "ok": self.ok,
            "tables": self.tables,
            "rows": self.rows,
            "mismatches": {k: {"expected": e, "found": f} for k, (e, f) in self.mismatches.items()},
            "files_restored": self.files_restored,
        }


def resolve(backup: str, settings: Settings) -> tuple[Path, str | None]:
    """The dump file a command-line argument names, and the checksum the `backups` row holds (by id)."""
    if backup.isdigit() and not Path(backup).exists():
        with session_scope(settings.require_database_url()) as session:
            row = session.get(Backup, int(backup))
        if row is None:
            raise RestoreRefused(f"no backup with id {backup}")
        if row.status != BackupStatus.SUCCEEDED or not row.path:
            raise RestoreRefused(f"backup {backup} is {row.status}, not a restorable backup")
        return Path(row.path), row.sha256
    return Path(backup), None


def load_manifest(dump: Path) -> dict[str, Any]:
    manifest_path = companions(dump)[0]
    if not dump.is_file():
        raise RestoreRefused(f"{dump} does not exist")
    if not manifest_path.is_file():
        raise RestoreRefused(f"{manifest_path} (the backup's manifest with its row counts) does not exist")
    return json.loads(manifest_path.read_text())


def existing_relations(url: str) -> list[str]:
    """Tables, views, sequences and foreign tables outside the system schemas."""
    with engine_for(url).connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                text(
                    "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') "
                    "and n.nspname not in ('pg_catalog', 'information_schema') "
                    "and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%' order by 1"
                )
            )
        ]


def _check_checksum(dump: Path, manifest: dict[str, Any], recorded: str | None) -> None:
    actual = sha256_file(dump)
    for source, expected in (("manifest", manifest["dump"]["sha256"]), ("backups row", recorded)):
        if expected is not None and actual != expected:
            raise RestoreRefused(
                f"{dump} has SHA-256 {actual} but its {source} says {expected}: "
                "the file is damaged or not the one that was backed up"
            )


def _restore_files(dump: Path, manifest: dict[str, Any], files_to: Path) -> list[str]:
    info = manifest.get("files")
    if not info:
        return []
    tar_path = companions(dump)[1]
    if sha256_file(tar_path) != info["sha256"]:
        raise RestoreFailed(f"{tar_path} does not match the SHA-256 in the manifest")
    files_to.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path) as tar:
        tar.extractall(files_to, filter="data")  # "data": no absolute paths, no escaping links
    return list(info["dirs"])


def restore(
    dump: Path, target_url: str, settings: Settings, recorded_sha256: str | None = None, files_to: Path | None = None
) -> RestoreReport:
    """Restore `dump` into the empty database at `target_url` and compare row counts with the manifest."""
    manifest = load_manifest(dump)
    _check_checksum(dump, manifest, recorded_sha256)
    present = existing_relations(target_url)
    if present:
        shown = ", ".join(present[:5]) + (" ..." if len(present) > 5 else "")
        raise RestoreRefused(
            f"target database is not empty ({len(present)} relations: {shown}); "
            "restore only into a freshly created database"
        )
    with engine_for(target_url).connect() as conn:
        server_major = int(conn.execute(text("show server_version_num")).scalar_one()) // 10000
    tools = find_tools(settings, server_major, int(manifest.get("pg_dump_major", 0)))
    args, env = libpq_args(target_url)
    proc = subprocess.run(
        [
            tools.path("pg_restore"),
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            *args,
            str(dump),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RestoreFailed(f"pg_restore failed: {stderr_tail(proc)}")
    with engine_for(target_url).connect() as conn, conn.begin():
        found = count_rows(conn)
    expected: dict[str, int] = manifest["row_counts"]
    mismatches = {t: (n, found.get(t)) for t, n in expected.items() if found.get(t) != n}
    report = RestoreReport(dump, len(found), sum(found.values()), mismatches)
    if files_to is not None:
        report.files_restored = _restore_files(dump, manifest, files_to)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.restore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("backup", help="path of a .dump file, or the id of a row in `backups`")
    parser.add_argument("--target-url", required=True, help="URL of an existing, EMPTY database to restore into")
    parser.add_argument("--files-to", type=Path, help="also unpack the companion tar (models, clips) here")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging("restore", settings.log_level, settings.log_format)
    try:
        dump, recorded = resolve(args.backup, settings)
        report = restore(dump, args.target_url, settings, recorded, args.files_to)
    except RestoreRefused as exc:
        log.error("restore refused: %s", exc, extra={"event": "restore.refused", "error": str(exc)})
        return 2
    except Exception as exc:  # any other failure: reported with its cause, non-zero exit
        log.error("restore failed: %s", exc, extra={"event": "restore.failed", "error": str(exc)})
        return 1
    print(json.dumps(report.as_dict()), flush=True)
    if not report.ok:
        log.error("restored database differs from the backup", extra={"event": "restore.mismatch", **report.as_dict()})
        return 1
    log.info(
        "restored %s: %d tables, %d rows, counts match",
        dump,
        report.tables,
        report.rows,
        extra={"event": "restore.succeeded", **report.as_dict()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
