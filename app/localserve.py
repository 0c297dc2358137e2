"""The web app (werkzeug, threaded) and optionally the Bokeh server process on free local ports.

For browser tests and benchmarks, which need the real servers but not gunicorn or nginx.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.runtime.embedded import free_port, wait_for_port


@contextmanager
def serve(settings: Settings, log_dir: Path, bokeh: bool = True) -> Iterator[tuple[Settings, str]]:
    """(settings with the ports used, base URL of the app); both servers stop on exit."""
    settings = settings.model_copy(update={"web_port": free_port(), "bokeh_port": free_port()})
    server = make_server(settings.web_host, settings.web_port, create_app(settings=settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="web").start()
    process = None
    log = open(log_dir / "bokeh.log", "w") if bokeh else None
    try:
        if bokeh:
            env = {**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key,
                   "WEB_HOST": settings.web_host, "WEB_PORT": str(settings.web_port),
                   "BOKEH_PORT": str(settings.bokeh_port), "DATA_DIR": str(settings.data_dir), "LOG_FORMAT": "text"}
            process = subprocess.Popen([sys.executable, "-m", "visualization"], env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
            wait_for_port(settings.web_host, settings.bokeh_port, 60)
        yield settings, f"http://{settings.web_host}:{settings.web_port}"
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        if log is not None:
            log.close()
        server.shutdown()
