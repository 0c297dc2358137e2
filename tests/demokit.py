"""Running `make demo` from tests: the whole platform in a subprocess, its services found by module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import psutil

from oceanwatch.runtime.embedded import free_port

T = TypeVar("T")

# A fast world and a tiny baseline, so the whole pipeline shows within a few minutes.
FAST_DEMO = {
    "SIMULATOR_SPEED": "30",
    "BASELINE_PER_CLASS": "6",
    "BASELINE_EPOCHS": "1",
    "BASELINE_EVAL_HOURS": "1",
    "BASELINE_SCENARIO_HOURS": "0.5",
    "LOG_FORMAT": "text",
}


@dataclass
class Demo:
    """`python -m oceanwatch.runtime.demo` on free ports in its own data directory."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    output: IO[str]

    @property
    def data_dir(self) -> Path:
        return Path(self.env["DATA_DIR"])

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.env['WEB_PORT']}"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.env['EMBEDDED_PG_PORT']}/oceanwatch"

    def printed(self) -> str:
        return Path(self.output.name).read_text()

    def service(self, module: str) -> psutil.Process | None:
        """The supervisor's child running `module` (`python -m module`; "gunicorn" for the web app)."""
        for child in psutil.Process(self.process.pid).children(recursive=False):
            try:
                if module in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    def pid_from(self, pidfile: Path) -> int:
        """The pid an embedded server wrote (its first line)."""
        return int(pidfile.read_text().splitlines()[0].strip())

    def broker_pid(self) -> int:
        return self.pid_from(self.data_dir / "tansu.pid")

    def postgres_pid(self) -> int:
        return self.pid_from(self.data_dir / "postgres" / "postmaster.pid")

    def stop(self, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # as Ctrl-C
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.output.close()


def start_demo(data_dir: Path, **env_overrides: str) -> Demo:
    """Start the demo with a fresh embedded stack; returns once the process runs (not yet up)."""
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        "KAFKA_BOOTSTRAP_SERVERS": "",
        "EMBEDDED_PG_PORT": str(free_port()),
        "EMBEDDED_KAFKA_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
        "BOKEH_PORT": str(free_port()),
        **FAST_DEMO,
        **env_overrides,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    output = open(data_dir.parent / f"{data_dir.name}.out", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "oceanwatch.runtime.demo"], env=env, stdout=output, stderr=subprocess.STDOUT, text=True
    )
    return Demo(process, env, output)
