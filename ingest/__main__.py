"""Entry point: `python -m ingest` (INGEST_SOURCE picks the simulator or a watched directory)."""

from ingest.service import run
from oceanwatch.runtime.service import run_service

run_service("ingest", run)
