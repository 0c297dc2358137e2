"""The data-retention pass the backup service runs every RETENTION_EVERY_HOURS (and at its start):
prune old spectrograms and clips (`oceanwatch.storage.retention`), then measure what each site
stores (`oceanwatch.storage.usage`) for the data page.

`python -m scripts.data_retention` runs one pass now and prints what it did as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import sys
from typing import Any

from oceanwatch.config import Settings, get_settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.runtime.logs import configure_logging
from oceanwatch.storage import retention, usage

log = logging.getLogger(__name__)


def run_retention(settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    """One pass: what was pruned, and the usage measured after it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    rules = settings.retention
    url = settings.require_database_url()
    pruned = retention.prune(
        engine_for(url), settings.data_dir, now, rules.spectrogram_days, rules.clip_days, rules.batch
    )
    with session_scope(url) as session:
        measured = usage.measure(session, settings.data_dir)
        usage.record(session, measured, now)
    outcome = {"pruned": dataclasses.asdict(pruned), "sites": measured}
    log.info(
        "retention: pruned %d spectrograms and %d clips (%d bytes of clips)",
        pruned.spectrograms,
        pruned.clips,
        pruned.clip_bytes,
        extra={"event": "retention.pass", **dataclasses.asdict(pruned)},
    )
    return outcome


def main() -> int:
    settings = get_settings()
    configure_logging("retention", settings.log_level, settings.log_format)
    print(json.dumps(run_retention(settings), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
