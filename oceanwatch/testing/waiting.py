"""Waiting for a condition in tests and benchmarks: the one poll loop they share.

Tests of services that run in threads or processes cannot know when a row lands, only that it
should within some time; a fixed sleep is either flaky or slow, so they poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout_s: float = 60.0, poll_s: float = 0.2) -> T | None:
    """The first truthy value of `predicate()` within `timeout_s`, else None (asserted by the caller)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)
