"""Request parameters checked in one place: times, integers, and the strings and numbers no route
can use.

Postgres refuses a NUL byte in text and an integer beyond bigint, and Python's datetime cannot
step an hour before year 1, so such input would surface as a 500 from deep inside a query.
`hostile_input` looks for it in a whole request (path, query, form, JSON) at once; the API
blueprint calls it before every route.  `time` and `integer` parse single values for the routes,
the pages' forms and the data and metrics actions alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

BIGINT_MIN, BIGINT_MAX = -(2 ** 63), 2 ** 63 - 1
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)


class BadRequest(ValueError):
    """A request parameter that cannot be used; answered with 400 and the reason."""


def time(name: str, raw: str, example: str = "2026-01-01T00:00:00Z") -> dt.datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise) from 1970 to 2100."""
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: an ISO 8601 time such as {example}") from None
    value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if not EARLIEST <= value < LATEST:
        raise BadRequest(f"{name}: a time from {EARLIEST.year} to {LATEST.year}, not {raw!r}")
    return value


def integer(name: str, raw: Any) -> int:
    """An integer that fits a bigint column: an int, a whole JSON number or decimal text."""
    if isinstance(raw, bool):
        raise BadRequest(f"{name}: an integer")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    try:
        value = int(raw) if isinstance(raw, (int, str)) else None
    except ValueError:
        value = None
    if value is None:
        raise BadRequest(f"{name}: an integer")
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise BadRequest(f"{name}: an integer of at most 19 digits (a 64-bit integer)")
    return value


def hostile_input(values: Iterable[tuple[str, Any]]) -> str | None:
    """Why a request cannot be used by any route (a NUL byte in a string, an integer beyond bigint),
    naming the parameter, or None; walks nested JSON without recursion, so depth cannot exhaust it."""
    stack = list(values)
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return f"{name}: a NUL byte is not allowed in text"
        elif isinstance(value, int) and not isinstance(value, bool):
            if not BIGINT_MIN <= value <= BIGINT_MAX:
                return f"{name}: an integer of at most 19 digits (a 64-bit integer)"
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in str(key):
                    return f"{name}: a NUL byte is not allowed in a key"
                stack.append((f"{name}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{name}[{i}]", item) for i, item in enumerate(value))
    return None
