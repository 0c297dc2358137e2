"""Entry point: `python -m ingest`."""

from oceanwatch.service import run_service

run_service("ingest", None)
