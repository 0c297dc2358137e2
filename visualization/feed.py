"""One reader per Bokeh server process: it polls Postgres for what is new at the sites being watched and
hands each site's update to every session watching that site.

Sessions never query for updates themselves: with twenty viewers the database sees one set of
queries per site per poll rather than twenty, and the costly part of an update (decoding
spectrograms into images, shaping columns) is done once per site instead of once per tab.

Rows are new by id, per site: a site's windows are written by one ingest writer and its predictions
by the one predict worker that owns its partition, so per site ids grow in commit order, and a
window of one site that commits after a later id of another is not skipped.  Truth is revised in
place (late AIS, mapping edits), so it is re-read by the database time it was computed, with an
overlap for transactions that started before the last read.  A session may be handed rows it
already has (it subscribes before it loads): it keeps what is newer than its own ids.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oceanwatch.db.models import Prediction, Window
from oceanwatch.events.query import EventRules, list_events
from oceanwatch.registry.active import ModelInfo, active_models
from visualization import queries

log = logging.getLogger(__name__)

POLL_S = 0.5
RETRY_S = 5.0  # after a failed poll (the database away)
SPECTROGRAM_LIMIT = 90
PREDICTION_LIMIT = 5000
TRUTH_LIMIT = 5000
# Truth rows are stamped with their transaction's start: re-read this far back so a labelling
# transaction that committed after the last read (but started before it) is not missed.
TRUTH_OVERLAP = dt.timedelta(seconds=60)
AIS_LOOKBACK = dt.timedelta(minutes=15)
EVENTS_SPAN = dt.timedelta(hours=1)  # the events list covers the newest hour of the site's windows
EVENTS_LIMIT = 30


@dataclass(frozen=True)
class SiteUpdate:
    """What is new at one site since the last poll, as rows (sessions shape their own columns)."""

    site: str
    models: list[ModelInfo]
    specs: list[dict[str, Any]]
    preds: list[dict[str, Any]]
    truth: dict[int, list[dict[str, Any]]]  # by radius: new windows (pending or labelled) and revised truth
    vessels: list[dict[str, Any]]
    end: dt.datetime
    events: list[dict[str, Any]] | None = None  # the newest events, when predictions or truth changed
    _shaped: dict[str, Any] = field(default_factory=dict, repr=False)

    def shaped(self, key: str, build: Callable[[], Any]) -> Any:
        """`build()` once per update, shared by every session it is delivered to (they all run on the
        server's one event loop thread): spectrogram images are decoded once per site, not once per tab."""
        if key not in self._shaped:
            self._shaped[key] = build()
        return self._shaped[key]


@dataclass(eq=False)
class Subscription:
    """A session watching `site`: `deliver` gets each update (it must be cheap and thread-safe: the
    server's sessions hand it to their document's next tick); `truth_floor` is the oldest window id
    whose revised truth the session still shows."""

    site: str
    deliver: Callable[[SiteUpdate], None]
    truth_floor: Callable[[], int | None]


@dataclass
class _SiteMarks:
    window_id: int
    prediction_id: int
    truth_read_at: dt.datetime
    subscribers: list[Subscription] = field(default_factory=list)


class LiveFeed:
    """The process's reader: `subscribe`, then `poll` (from its thread, `start`) delivers updates."""

    def __init__(
        self, session_factory: Callable[[], Session], radii_km: Sequence[int], event_rules: EventRules | None = None
    ) -> None:
        self.session_factory = session_factory
        self.radii_km = tuple(radii_km)
        self.event_rules = event_rules  # None: no events are read
        self._sites: dict[str, _SiteMarks] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(
        self, site: str, deliver: Callable[[SiteUpdate], None], truth_floor: Callable[[], int | None]
    ) -> Subscription:
        """Start delivering `site`'s updates; a site watched for the first time starts from its newest rows."""
        sub = Subscription(site, deliver, truth_floor)
        with self._lock:
            marks = self._sites.get(site)
        if marks is None:
            with self.session_factory() as session:
                marks = _SiteMarks(*_newest(session), queries.database_now(session))
        with self._lock:
            marks = self._sites.setdefault(site, marks)
            marks.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to `sub`; a site nobody watches is no longer read."""
        with self._lock:
            marks = self._sites.get(sub.site)
            if marks is None:
                return
            marks.subscribers = [s for s in marks.subscribers if s is not sub]
            if not marks.subscribers:
                del self._sites[sub.site]

    @property
    def viewers(self) -> int:
        with self._lock:
            return sum(len(m.subscribers) for m in self._sites.values())

    def poll(self) -> int:
        """Read every watched site once and deliver what is new; returns the number of updates delivered."""
        with self._lock:
            watched = {site: (marks, list(marks.subscribers)) for site, marks in self._sites.items()}
        delivered = 0
        with self.session_factory() as session:
            models = active_models(session)
            for site, (marks, subscribers) in watched.items():
                update = self._read_site(session, site, marks, models, subscribers)
                for sub in subscribers:
                    try:
                        sub.deliver(update)
                        delivered += 1
                    except Exception:  # a session torn down between the snapshot and now: drop it, not the poll
                        log.warning("dropping a live session that could not take its update", exc_info=True)
                        self.unsubscribe(sub)
        return delivered

    def _read_site(
        self,
        session: Session,
        site: str,
        marks: _SiteMarks,
        models: list[ModelInfo],
        subscribers: list[Subscription],
    ) -> SiteUpdate:
        read_at = queries.database_now(session)
        specs = queries.spectrogram_rows(session, site, after_window_id=marks.window_id, limit=SPECTROGRAM_LIMIT)
        preds = queries.prediction_rows(
            session, [m.id for m in models], site, after_id=marks.prediction_id, limit=PREDICTION_LIMIT
        )
        floors = [f for f in (s.truth_floor() for s in subscribers) if f is not None]
        truth = {}
        for radius in self.radii_km:
            new = queries.truth_rows(session, site, radius, after_window_id=marks.window_id, limit=TRUTH_LIMIT)
            revised = (
                queries.truth_rows(
                    session,
                    site,
                    radius,
                    after_window_id=min(floors) - 1,
                    computed_after=marks.truth_read_at - TRUTH_OVERLAP,
                    limit=TRUTH_LIMIT,
                )
                if floors
                else []
            )
            truth[radius] = _merge(revised, new)
        end = queries.latest_window_time(session, site) or read_at
        vessels = queries.vessel_positions(session, end - AIS_LOOKBACK, end)
        changed = preds or any(truth.values())
        events = recent_events(session, self.event_rules, site, end) if changed and self.event_rules else None
        with self._lock:  # the marks move only forward, whatever a concurrent subscribe did
            marks.window_id = max([marks.window_id, *(r["window_id"] for r in specs), *(r["window_id"] for r in new)])
            marks.prediction_id = max([marks.prediction_id, *(r["id"] for r in preds)])
            marks.truth_read_at = read_at
        return SiteUpdate(site, models, specs, preds, truth, vessels, end, events)

    def start(self) -> None:
        """Poll every POLL_S on a daemon thread until `stop`."""
        self._thread = threading.Thread(target=self._run, daemon=True, name="live-feed")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
                wait = POLL_S
            except Exception:  # the database away: sessions keep what they show and the feed retries
                log.exception("live feed poll failed; retrying in %.0f s", RETRY_S)
                wait = RETRY_S
            self._stop.wait(wait)


def recent_events(session: Session, rules: EventRules, site: str, end: dt.datetime) -> list[dict[str, Any]]:
    """The site's newest events, over the hour of windows before `end`: what the live page lists."""
    return list_events(session, rules, site, start=end - EVENTS_SPAN, end=end, limit=EVENTS_LIMIT)


def _newest(session: Session) -> tuple[int, int]:
    """The newest window id and prediction id of any site (0 when none): a site's later rows have higher ids."""
    window_id = session.scalar(select(func.max(Window.id))) or 0
    prediction_id = session.scalar(select(func.max(Prediction.id))) or 0
    return window_id, prediction_id


def _merge(revised: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Truth rows by window, oldest first; a window in both is taken from `new` (read last)."""
    rows = {r["window_id"]: r for r in revised} | {r["window_id"]: r for r in new}
    return [rows[w] for w in sorted(rows)]
