"""Entry point: `python -m visualization` (the Bokeh server of the live dashboard)."""

from oceanwatch.runtime.service import run_service
from visualization.server import serve

run_service("visualization", serve)
