"""What every benchmark reports with: one figure in the report convention, and a median timing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def metric(value: float, unit: str, goal: float | None = None, higher_is_better: bool = False) -> dict[str, Any]:
    """A figure as `benchmarks.report` renders it, with its goal beside it."""
    return {"value": round(float(value), 3), "unit": unit, "goal": goal, "higher_is_better": higher_is_better}


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `repeat` calls, in milliseconds (the median shrugs off a noisy neighbour)."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(samples)
