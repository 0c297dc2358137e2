"""The web app and the Bokeh server as real processes on free local ports, for browser tests and benchmarks.

They are started with the very commands the demo's supervisor runs (`service_specs`: gunicorn with
the shared worker settings, `python -m visualization`), with these settings handed over through the
environment, so a browser test exercises the served platform rather than an in-process stand-in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from oceanwatch.config import Settings
from oceanwatch.runtime.demo import service_specs
from oceanwatch.runtime.embedded import free_port, port_open
from oceanwatch.testing.waiting import wait_for

STARTUP_TIMEOUT_S = 90.0


@contextmanager
def serve(settings: Settings, log_dir: Path, bokeh: bool = True) -> Iterator[tuple[Settings, str]]:
    """(settings with the ports used, base URL of the app); every server started stops on exit.

    Logs go to `log_dir/web.log` and `log_dir/bokeh.log`.  Without `bokeh`, the port is still chosen, so
    a test can start (and stop, and start again) the Bokeh server itself with `running`.
    """
    settings = settings.updated(log_format="text", web={"port": free_port()}, bokeh={"port": free_port()})
    with ExitStack() as stack:
        stack.enter_context(running(settings, "web", log_dir))
        if bokeh:
            stack.enter_context(running(settings, "visualization", log_dir))
        yield settings, f"http://{settings.web.host}:{settings.web.port}"


SERVED = {"web": ("web", "web"), "visualization": ("bokeh", "bokeh")}  # service -> (log name, settings group)


@contextmanager
def running(settings: Settings, service: str, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One served service ("web" or "visualization") as the supervisor runs it, on its settings' port,
    returned once it listens; stopped on exit."""
    log_name, group = SERVED[service]
    env = {
        **os.environ,
        **settings.to_env(),
        "SECRET_KEY": settings.resolved_secret_key(),
        "DATA_DIR": str(settings.data_dir.resolve()),
    }
    spec = next(spec for spec in service_specs(settings) if spec.name == service)
    port = getattr(settings, group).port
    with service_process(spec.argv, env, log_dir / f"{log_name}.log") as process:
        _wait_until_listening(process, settings.web.host, port, log_dir / f"{log_name}.log")
        yield process


def _wait_until_listening(process: subprocess.Popen[bytes], host: str, port: int, log_path: Path) -> None:
    """Wait for the port, failing at once with the log's tail if the process died starting up."""
    if not wait_for(lambda: process.poll() is not None or port_open(host, port), STARTUP_TIMEOUT_S, poll_s=0.1):
        raise TimeoutError(f"nothing listens on {host}:{port} after {STARTUP_TIMEOUT_S:.0f}s")
    if process.poll() is not None:
        raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")


@contextmanager
def service_process(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process writing to `log_path`, terminated (then killed) on exit."""
    with open(log_path, "ab") as log:  # appended: a service restarted by a test keeps its earlier log
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
