"""Every active site served by one ingest process (or its share of them): a source per site, re-read
from the database.

Each active site gets the source its `source` names (`oceanwatch.sites.spec.site_source`): the
simulator at the site's position, or a watched directory.  `step` feeds whatever is due from every
source into the one `Ingestor` (whose assemblers are per site), so a site added, changed or
deactivated on the Sites page is picked up within INGEST_SITES_REFRESH_S, without restart.

Sites sharing a directory share its one watcher (files name their site with the pattern's
`hydrophone` group, else go to the first of them by id): two watchers would race for each file.

With INGEST_SHARD_COUNT n, n processes share the sites by a hash of their ids (`site_shard`), each
serving its INGEST_SHARD_INDEX: for more cores than one Python process uses, or more machines.
Sites sharing a directory should then share it in one shard only (name files by site).
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ingest.directory import DirectorySource
from ingest.pipeline import Ingestor
from ingest.simulator import SimulatorSource
from ingest.store import last_window_start
from oceanwatch.audio.features import window_grid_step
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.geo import Site
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.scenario import scenario_from_settings
from oceanwatch.sites.spec import DirectoryAudio, SimulatorAudio, site_source
from oceanwatch.sites.store import list_sites

log = logging.getLogger(__name__)


def make_directory_source(
    settings: Settings, ingestor: Ingestor, site_id: str | None = None, audio: DirectoryAudio | None = None
) -> DirectorySource:
    """A watcher of `audio`'s directory filing files under `site_id` (default: the INGEST_* settings
    and the HYDROPHONE_ID site)."""
    audio = audio or DirectoryAudio.from_settings(settings)
    watched, quarantine, archive = audio.dirs()
    return DirectorySource(
        settings.require_database_url(),
        ingestor,
        watched,
        quarantine,
        archive,
        site_id or settings.hydrophone.id,
        audio.pattern,
        audio.time_format,
        settings.ingest.stable_s,
        align=audio.align,
        align_by_hydrophone=settings.ingest.align_by_hydrophone,
    )


def site_shard(site_id: str, shard_count: int) -> int:
    """Which of `shard_count` ingest processes serves the site: a stable hash of its id, so every process
    agrees without talking to the others, and a site moves only when the count changes."""
    return zlib.crc32(site_id.encode()) % shard_count


@dataclass(frozen=True)
class _Wanted:
    """What one source is built from: when it changes, the source is built again."""

    site_id: str
    latitude: float
    longitude: float
    audio: SimulatorAudio | DirectoryAudio

    @property
    def key(self) -> str:
        """What the source serves: the site (simulator) or the watched directory, which two sites cannot share."""
        return self.site_id if isinstance(self.audio, SimulatorAudio) else str(self.audio.dirs()[0].resolve())


class SiteSources:
    """The sources of every active site, kept in step with the sites table."""

    def __init__(self, settings: Settings, ingestor: Ingestor, stop: StopFlag) -> None:
        self.settings, self.ingestor, self.stop = settings, ingestor, stop
        self.url = settings.require_database_url()
        self.scenario = scenario_from_settings(settings)
        self.clock = SimClock.from_settings(settings.simulator.anchor, settings.simulator.speed)
        self.simulated: dict[str, SimulatorSource] = {}
        self.watched: dict[str, DirectorySource] = {}
        self._built: dict[str, _Wanted] = {}
        self._read_at = -float("inf")
        self._last_poll = -float("inf")

    def refresh(self, force: bool = False) -> None:
        """Re-read the active sites (every INGEST_SITES_REFRESH_S): start, rebuild or stop sources."""
        if not force and time.monotonic() - self._read_at < self.settings.ingest.sites_refresh_s:
            return
        self._read_at = time.monotonic()
        try:
            wanted = self._wanted()
            for key in [k for k in self._built if k not in wanted or wanted[k] != self._built[k]]:
                log.info("ingest: stop serving %s", key)
                self.simulated.pop(key, None)
                self.watched.pop(key, None)
                del self._built[key]
            for key, want in wanted.items():
                if key not in self._built:
                    self._start(want)
                    self._built[key] = want
        except SQLAlchemyError as exc:  # Postgres restarting: keep serving the sites known, read again later
            log.warning("ingest: could not read the sites (%s); serving the %d known", exc, len(self._built))

    def step(self) -> int:
        """Feed what every source has due; returns how many segments and files were handled."""
        self.refresh()
        handled = 0
        for source in list(self.simulated.values()):
            for segment in source.due(self.settings.ingest.batch_windows):
                self.ingestor.feed(segment)
                handled += 1
        if self.watched and time.monotonic() - self._last_poll >= self.settings.ingest.poll_s:
            self._last_poll = time.monotonic()
            handled += sum(directory.poll() for directory in list(self.watched.values()))
        if self.caught_up():
            self.ingestor.flush(wait=False)  # live: windows go out as soon as a chunk completes them
        return handled

    def caught_up(self) -> bool:
        """No simulated site has a chunk already due (while behind, windows go out in full batches)."""
        return all(source.caught_up() for source in self.simulated.values())

    def wait_s(self) -> float:
        """How long nothing will be due: until the next simulated chunk, a directory scan or a refresh."""
        waits = [self.settings.ingest.sites_refresh_s - (time.monotonic() - self._read_at)]
        waits += [source.wait_s() for source in self.simulated.values()]
        if self.watched:
            waits.append(self.settings.ingest.poll_s - (time.monotonic() - self._last_poll))
        return max(0.0, min(waits))

    def served(self) -> dict[str, Any]:
        """Which sites are served by which source (for the service's log and status)."""
        return {key: want.audio.kind for key, want in self._built.items()}

    def _wanted(self) -> dict[str, _Wanted]:
        shards = self.settings.ingest.shard_count, self.settings.ingest.shard_index
        with session_scope(self.url) as session:
            sites = [
                (s.id, s.latitude, s.longitude, site_source(s.source, self.settings))
                for s in list_sites(session, True)
                if site_shard(s.id, shards[0]) == shards[1]
            ]
        wanted: dict[str, _Wanted] = {}
        for site_id, lat, lon, audio in sites:
            want = _Wanted(site_id, lat, lon, audio)
            if (first := wanted.get(want.key)) is not None:
                log.warning(
                    "ingest: sites %s and %s share %s; files without a site in their name go to %s",
                    first.site_id,
                    site_id,
                    want.key,
                    first.site_id,
                )
                continue
            wanted[want.key] = want
        return wanted

    def _start(self, want: _Wanted) -> None:
        if isinstance(want.audio, SimulatorAudio):
            resume_from = last_window_start(self.url, want.site_id)  # no gap however long ingest was away
            self.simulated[want.key] = SimulatorSource(
                self.scenario,
                Site(want.site_id, want.latitude, want.longitude),
                self.clock,
                self.stop,
                self.settings.ingest.sim_sample_rate,
                window_grid_step(self.settings.ingest.window_s),
                self.settings.ingest.window_s,
                resume_from=resume_from,
            )
            log.info("ingest: simulating site %s from %s", want.site_id, resume_from)
        else:
            self.watched[want.key] = make_directory_source(self.settings, self.ingestor, want.site_id, want.audio)
            log.info("ingest: watching %s for site %s", want.key, want.site_id)
