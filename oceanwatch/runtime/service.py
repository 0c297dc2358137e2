"""What every long-running service shares: logging set-up, a stop flag tied to SIGTERM/SIGINT, a heartbeat."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from oceanwatch.config import Settings, get_settings
from oceanwatch.runtime.logs import configure_logging

log = logging.getLogger(__name__)


class StopFlag:
    """Set by SIGTERM or SIGINT; loops poll it (or wait on it) so shutdown is clean, not abrupt."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> "StopFlag":
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.set(signal.Signals(signum).name))
        return self

    def set(self, reason: str = "requested") -> None:
        if not self._event.is_set():
            log.info("stopping (%s)", reason)
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


def run_service(name: str, main: Callable[[Settings, StopFlag], None] | None) -> None:
    """Run `main` until it returns or a stop signal arrives, with a heartbeat in Postgres meanwhile.

    The heartbeat (`oceanwatch.runtime.heartbeat`) is what `/metrics` reports readiness per service from,
    and how counters in `oceanwatch.runtime.counters.REGISTRY` reach it from this process.

    A service whose issue is not built yet passes `main=None`: it starts, says so, and idles
    until stopped, so the supervisor and deployment files already treat it as a real service.
    """
    settings = get_settings()
    configure_logging(name, settings.log_level, settings.log_format)
    stop = StopFlag().install()
    heartbeat = None
    if settings.database_url:  # readiness and counters for /metrics (see oceanwatch.runtime.heartbeat)
        from oceanwatch.runtime.heartbeat import Heartbeat

        heartbeat = Heartbeat(settings.database_url, name, settings.heartbeat_interval_s)
        heartbeat.start()
    try:
        if main is None:
            log.info("%s is a placeholder: it idles until stopped", name)
            stop.wait()
            return
        main(settings, stop)
    finally:
        if heartbeat is not None:
            heartbeat.finish()
