"""Request parameters checked in one place: times, integers, time ranges, and the strings and numbers
no route can use.

Postgres refuses a NUL byte in text and an integer beyond bigint, and Python's datetime cannot
step an hour before year 1, so such input would surface as a 500 from deep inside a query.
`hostile_input` looks for it in a whole request (path, query, form, JSON) at once; the API
blueprint calls it before every route.  `parse_time` is the one time parser (the routes, the pages'
forms and the data and scores actions alike); `int_arg`, `time_arg` and `time_range` read the
request's query string with it.  Every refusal is an `InputError`, answered with 400 and the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flask import request

from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.db.models import Hydrophone

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000
DEFAULT_SPAN = dt.timedelta(hours=1)


def parse_time(name: str, raw: str, example: str = "2026-01-01T00:00:00Z") -> dt.datetime:
    """An ISO 8601 date or time from 1970 to 2100: 'Z' or an offset, else (naive, or a bare date) UTC."""
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{name}: an ISO 8601 time such as {example}") from None
    value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if not EARLIEST <= value < LATEST:
        raise InputError(f"{name}: a time from {EARLIEST.year} to {LATEST.year}, not {raw!r}")
    return value


def parse_integer(name: str, raw: Any) -> int:
    """An integer that fits a bigint column: an int, a whole JSON number or decimal text."""
    if isinstance(raw, bool):
        raise InputError(f"{name}: an integer")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    try:
        value = int(raw) if isinstance(raw, (int, str)) else None
    except ValueError:
        value = None
    if value is None:
        raise InputError(f"{name}: an integer")
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise InputError(f"{name}: an integer of at most 19 digits (a 64-bit integer)")
    return value


def int_arg(name: str) -> int | None:
    """The query argument `name` as an integer; None when absent or empty."""
    raw = request.args.get(name)
    return None if raw is None or raw == "" else parse_integer(name, raw)


def time_arg(name: str) -> dt.datetime | None:
    """The query argument `name` as a time; None when absent or empty."""
    raw = request.args.get(name)
    return parse_time(name, raw) if raw else None


def time_range() -> tuple[dt.datetime, dt.datetime, int]:
    """start, end and limit of a listing: end defaults to now, start to an hour before end."""
    end = time_arg("end") or dt.datetime.now(dt.timezone.utc)
    start = time_arg("start") or end - DEFAULT_SPAN
    if start > end:
        raise InputError("start is after end")
    limit = int_arg("limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit: from 1 to {MAX_LIMIT}")
    return start, end, limit


def radius_arg(radii: Iterable[int]) -> int:
    """The query argument radius_km, one of the configured truth radii (default the first)."""
    radii = list(radii)
    radius = int_arg("radius_km")
    radius = radii[0] if radius is None else radius
    if radius not in radii:
        raise InputError(f"radius_km: one of {', '.join(str(r) for r in radii)}")
    return radius


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


def parse_site(raw: str | None) -> str | None:
    """A `site` argument: a known site's id, or None (blank or absent) for every site."""
    if not raw:
        return None
    if db.session.get(Hydrophone, raw) is None:
        raise InputError(f"site: no site {raw!r}")
    return raw


def json_object() -> dict[str, Any]:
    """The request's JSON body, which every route taking one needs to be an object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object (Content-Type: application/json)")
    return body


def iso(value: dt.datetime | None) -> str | None:
    """A time as the API answers it: ISO 8601 with its offset, or None."""
    return value.isoformat() if value is not None else None
