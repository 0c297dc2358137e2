"""Entry point: `python -m predict_stream`."""

from oceanwatch.service import run_service

run_service("predict_stream", None)
