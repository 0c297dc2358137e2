"""The truth labeller service: truth for every window as its AIS arrives, revised on late AIS.

Every TRUTH_INTERVAL_S: one labelling pass (`oceanwatch.truth.labeller`), then the queued relabel
jobs (after a class-mapping edit), then the days whose labels or predictions changed are
re-tallied for the score rollup.  Run as `python -m ais_stream.truth_labeller`.
"""

from __future__ import annotations

import logging

from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.runtime.service import StopFlag, run_service
from oceanwatch.scoring.rollup import MAX_REFRESH_DAYS, refresh_rollup
from oceanwatch.truth.classmap import run_relabel
from oceanwatch.truth.labeller import Labeller

log = logging.getLogger(__name__)


def main(settings: Settings, stop: StopFlag) -> None:
    labeller = Labeller.from_settings(settings)
    while not stop.is_set():
        try:
            counts = labeller.run_pass()
            if counts["labelled"] or counts["revised"]:
                log.info("truth pass", extra=counts)
            jobs.run_next(labeller.url, {jobs.JobKind.RELABEL: run_relabel})
            refresh_rollup(engine_for(labeller.url), limit=MAX_REFRESH_DAYS)
        except Exception:  # a database hiccup must not end the service; the next pass retries
            log.exception("truth pass failed")
        stop.wait(settings.truth.interval_s)


if __name__ == "__main__":
    run_service("truth_labeller", main)
