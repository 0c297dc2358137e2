"""Entry point: `python -m ais_stream`."""

from oceanwatch.service import run_service

run_service("ais_stream", None)
