"""A small process supervisor: starts every service, restarts the ones that die, stops them cleanly.

Children run in their own sessions so a Ctrl-C reaches only the supervisor, which then
stops services in reverse start order (SIGTERM, then SIGKILL after a grace period).  A
service that dies is restarted with exponential backoff, reset once it has stayed up.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def restart_delay(restarts: int, max_backoff_s: float) -> float:
    """Seconds to wait before restarting something that already failed `restarts` times in a row."""
    return min(max_backoff_s, 2.0**restarts)


@dataclass
class ServiceSpec:
    """How to run one service."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    oneshot: bool = False  # a set-up task: done when it exits 0, restarted only on failure


@dataclass
class _Running:
    spec: ServiceSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = 0.0
    logfile: IO[bytes] | None = None


class Supervisor:
    """Runs services until `stop()`; `max_backoff_s` caps the delay between restarts."""

    def __init__(
        self,
        specs: list[ServiceSpec],
        log_dir: Path,
        base_env: dict[str, str] | None = None,
        grace_s: float = 10.0,
        max_backoff_s: float = 30.0,
        stable_after_s: float = 60.0,
    ) -> None:
        self._services = [_Running(spec) for spec in specs]
        self._log_dir = log_dir
        self._base_env = base_env if base_env is not None else dict(os.environ)
        self._grace_s = grace_s
        self._max_backoff_s = max_backoff_s
        self._stable_after_s = stable_after_s
        self._stopping = False

    def _start(self, running: _Running) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        if running.logfile is None:
            running.logfile = open(self._log_dir / f"{running.spec.name}.log", "ab")
        env = {**self._base_env, **running.spec.env}
        running.process = subprocess.Popen(
            running.spec.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=running.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running.started_at = time.monotonic()
        log.info("started %s (pid %d)", running.spec.name, running.process.pid)

    def start_all(self) -> None:
        for running in self._services:
            self._start(running)

    def poll_once(self) -> None:
        """Restart any service that exited while we are not stopping."""
        now = time.monotonic()
        for running in self._services:
            proc = running.process
            if proc is not None and proc.poll() is None:
                if now - running.started_at > self._stable_after_s:
                    running.restarts = 0
                continue
            if self._stopping:
                continue
            if proc is not None:
                # What the dead process left in its group (gunicorn's workers after `kill -9` of the
                # master) would hold its port and keep serving: it goes before the restart.
                _signal_group(proc, signal.SIGKILL)
            if proc is not None and running.spec.oneshot and proc.returncode == 0:
                log.info("%s finished", running.spec.name)
                running.process, running.next_start = None, float("inf")
            elif proc is not None:
                code = proc.returncode
                delay = restart_delay(running.restarts, self._max_backoff_s)
                log.warning("%s exited with code %s; restarting in %.0fs", running.spec.name, code, delay)
                running.restarts += 1
                running.next_start = now + delay
                running.process = None
            elif now >= running.next_start:
                self._start(running)

    def pids(self) -> dict[str, int | None]:
        """Current pid of each service (None while waiting to restart)."""
        return {
            r.spec.name: (r.process.pid if r.process and r.process.poll() is None else None) for r in self._services
        }

    def run(self, on_started: Callable[[], None] | None = None, poll_s: float = 0.5) -> None:
        """Start everything, call `on_started`, supervise until SIGINT/SIGTERM, then stop everything."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, lambda signum, _frame: self.request_stop())
        try:
            self.start_all()
            if on_started is not None:
                on_started()
            while not self._stopping:
                self.poll_once()
                time.sleep(poll_s)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def request_stop(self) -> None:
        self._stopping = True

    def stop(self) -> None:
        """SIGTERM in reverse start order, wait up to the grace period, SIGKILL what is left."""
        self._stopping = True
        alive = [r for r in reversed(self._services) if r.process is not None and r.process.poll() is None]
        for running in alive:
            log.info("stopping %s", running.spec.name)
            _signal_group(running.process, signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for running in alive:
            assert running.process is not None
            try:
                running.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", running.spec.name, self._grace_s)
                _signal_group(running.process, signal.SIGKILL)
                running.process.wait()
        for running in self._services:
            if running.logfile is not None:
                running.logfile.close()
                running.logfile = None


def _signal_group(process: subprocess.Popen[bytes] | None, sig: int) -> None:
    """Signal the service's whole process group (gunicorn workers, bokeh, ...)."""
    if process is None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
