"""Choosing pg_dump/pg_restore for a server, and passing the connection without exposing the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from oceanwatch.config import Settings
from scripts.pgtools import PgToolsError, candidate_dirs, choose, libpq_args, tool_major

WHEEL, SYSTEM, OLD = Path("/wheel/bin"), Path("/usr/bin"), Path("/old/bin")
CANDIDATES = [(WHEEL, 18), (SYSTEM, 15), (OLD, 13), (Path("/broken"), None)]


def test_the_servers_own_major_wins() -> None:
    assert choose(CANDIDATES, 15).bin_dir == SYSTEM
    assert choose(CANDIDATES, 18).bin_dir == WHEEL


def test_otherwise_the_oldest_newer_client() -> None:
    assert choose(CANDIDATES, 17).bin_dir == WHEEL
    assert choose(CANDIDATES, 14).bin_dir == SYSTEM


def test_an_archive_needs_a_pg_restore_at_least_as_new_as_its_pg_dump() -> None:
    assert choose(CANDIDATES, 15, minimum=18).bin_dir == WHEEL


def test_no_suitable_client_is_a_clear_error_listing_what_was_tried() -> None:
    with pytest.raises(PgToolsError) as caught:
        choose(CANDIDATES, 19)
    message = str(caught.value)
    assert "version >= 19" in message and "/wheel/bin (v18)" in message and "/broken (no pg_dump" in message
    assert "PG_BIN_DIR" in message


def test_pg_bin_dir_is_the_only_candidate_when_set(tmp_path: Path) -> None:
    assert candidate_dirs(Settings().updated(backup={"pg_bin_dir": str(tmp_path)})) == [tmp_path]
    assert tool_major(tmp_path) is None


def test_the_embedded_wheels_binaries_are_found_and_answer() -> None:
    dirs = candidate_dirs(Settings())
    assert dirs and tool_major(dirs[0]) is not None and tool_major(dirs[0]) >= 15


def test_the_password_travels_in_the_environment_not_the_arguments() -> None:
    args, env = libpq_args("postgresql+psycopg2://ow:s3cret@db.example:6543/oceanwatch")
    assert args == ["-h", "db.example", "-p", "6543", "-U", "ow", "-d", "oceanwatch"]
    assert env["PGPASSWORD"] == "s3cret" and "s3cret" not in " ".join(args)
