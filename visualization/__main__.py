"""Entry point: `python -m visualization`."""

from oceanwatch.service import run_service

run_service("visualization", None)
