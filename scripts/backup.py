"""Scheduled Postgres backups (placeholder until the operations issue lands)."""

from oceanwatch.service import run_service

if __name__ == "__main__":
    run_service("backup", None)
