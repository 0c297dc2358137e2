"""Service heartbeats: every running service instance says "alive" in Postgres, with its counters.

`run_service` starts one for every service, so readiness per service and the in-process
counters (see `oceanwatch.runtime.counters.REGISTRY`) are visible to any process that can read the
database — the web app's `/metrics` in particular, whichever gunicorn worker answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session

from oceanwatch.db import session_scope
from oceanwatch.db.models import ServiceHeartbeat
from oceanwatch.runtime.counters import REGISTRY, snapshot

log = logging.getLogger(__name__)

# Rows of instances silent for this long are dropped when an instance of the same service starts.
FORGET_AFTER = dt.timedelta(days=7)
# An instance counts as down after missing this many heartbeats in a row.
MISSED_BEATS = 3


def stale_after_s(interval_s: float) -> float:
    """How long after its last beat an instance still counts as up (`/metrics` and `/status` agree on it)."""
    return MISSED_BEATS * interval_s


def instance_id() -> str:
    """host:pid: unique among running instances, readable in a dashboard."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def beat(
    url: str, service: str, instance: str, started_at: dt.datetime, counters: dict[str, Any], stopped: bool = False
) -> None:
    """Upsert this instance's row: last beat, counter snapshot, and whether it has stopped."""
    now = _now()
    values = {"beat_at": now, "counters": counters, "stopped_at": now if stopped else None}
    statement = insert(ServiceHeartbeat).values(service=service, instance=instance, started_at=started_at, **values)
    with session_scope(url) as session:
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[ServiceHeartbeat.service, ServiceHeartbeat.instance], set_=values
            )
        )


def forget_stale(url: str, service: str, older_than: dt.timedelta) -> int:
    """Drop rows of long-gone instances of `service` (each restart is a new instance); returns how many.

    Their counter snapshots leave the sums with them, which Prometheus reads as a counter reset.
    """
    with session_scope(url) as session:
        result = session.execute(
            delete(ServiceHeartbeat).where(
                ServiceHeartbeat.service == service, ServiceHeartbeat.beat_at < _now() - older_than
            )
        )
        return cast(CursorResult[Any], result).rowcount or 0  # a DELETE answers with a cursor result


class Heartbeat(threading.Thread):
    """Beats every `interval_s` until `finish()`, which records the stop (a clean exit is not a crash)."""

    def __init__(self, url: str, service: str, interval_s: float) -> None:
        super().__init__(name=f"heartbeat-{service}", daemon=True)
        self.url, self.service, self.interval_s = url, service, interval_s
        self.instance, self.started_at = instance_id(), _now()
        self._stop_event = threading.Event()
        self._failing = False

    def _beat(self, stopped: bool = False) -> None:
        try:
            beat(self.url, self.service, self.instance, self.started_at, snapshot(REGISTRY), stopped)
        except Exception as exc:  # the database being down must not stop the service; readiness shows it
            if not self._failing:
                log.warning("heartbeat failed: %s", exc, extra={"event": "heartbeat.failed"})
            self._failing = True
        else:
            self._failing = False

    def run(self) -> None:
        try:
            forget_stale(self.url, self.service, FORGET_AFTER)
        except Exception as exc:  # housekeeping only; the beats below report a dead database
            log.debug("could not forget stale heartbeats: %s", exc)
        while not self._stop_event.is_set():
            self._beat()
            self._stop_event.wait(self.interval_s)

    def finish(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        self._beat(stopped=True)


@dataclass(frozen=True)
class ServiceState:
    """Readiness of one service: live instances (recent beat, not stopped) and the freshest beat's age."""

    service: str
    live_instances: int
    last_beat_age_s: float

    @property
    def up(self) -> bool:
        return self.live_instances > 0


def service_states(
    db: Session | Connection, stale_after_s: float, now: dt.datetime | None = None
) -> list[ServiceState]:
    """Every service that ever beat, with how many of its instances are alive now (read in the caller's `db`)."""
    now = now or _now()
    rows = db.execute(select(ServiceHeartbeat.service, ServiceHeartbeat.beat_at, ServiceHeartbeat.stopped_at)).all()
    states: dict[str, tuple[int, float]] = {}
    for service, beat_at, stopped_at in rows:
        age = (now - beat_at).total_seconds()
        live = int(stopped_at is None and age <= stale_after_s)
        count, best = states.get(service, (0, float("inf")))
        states[service] = (count + live, min(best, age))
    return [ServiceState(s, n, round(age, 3)) for s, (n, age) in sorted(states.items())]
