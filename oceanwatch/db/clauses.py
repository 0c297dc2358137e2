"""SQL clause builders shared by the hand-written queries (scores, review queue, training set, truth).

One convention for "windows in a time range": half-open on the window's start, `[start, end)`, so that
consecutive ranges (days of a rollup, pages of an export) never count a window twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def time_range(column: str, start: dt.datetime | None, end: dt.datetime | None) -> tuple[list[str], dict[str, Any]]:
    """Clauses and bound parameters keeping rows with `start <= column < end`; an open side adds nothing.

    The parameters are named `range_start` and `range_end` so they cannot collide with a caller's own.
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if start is not None:
        clauses.append(f"{column} >= :range_start")
        params["range_start"] = start
    if end is not None:
        clauses.append(f"{column} < :range_end")
        params["range_end"] = end
    return clauses, params
