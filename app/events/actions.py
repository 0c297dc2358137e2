"""Reading the request for an events listing, and the events themselves for pages and the API.

The rules and SQL live in `oceanwatch.events`; this module turns query arguments into them (an
`InputError` for anything unusable) and shapes rows for JSON and templates.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from app.api.args import iso, parse_site, time_range
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.events.query import EventRules, hourly_counts, list_events
from oceanwatch.events.rules import EventKind


def rules() -> EventRules:
    return EventRules.from_settings(current_app.config["OCEANWATCH_SETTINGS"])


def kinds_arg() -> list[EventKind] | None:
    """The `kind` arguments (repeatable, or comma-separated); None for every kind."""
    raw = [k for value in request.args.getlist("kind") for k in value.split(",") if k]
    try:
        return [EventKind(k) for k in raw] or None
    except ValueError:
        raise InputError(f"kind: one or more of {', '.join(EventKind)}") from None


def _json(event: dict[str, Any]) -> dict[str, Any]:
    return event | {"start_time": iso(event["start_time"]), "end_time": iso(event["end_time"])}


def events_listing() -> dict[str, Any]:
    """Events of the request's site, time range and kinds, newest first."""
    start, end, limit = time_range()
    site = parse_site(request.args.get("site"))
    events = list_events(db.session, rules(), site, start, end, kinds_arg(), limit)
    return {"start": iso(start), "end": iso(end), "site": site, "events": [_json(e) for e in events]}


def hourly_listing() -> dict[str, Any]:
    """Event counts per site and hour over the request's time range (default the last hour, as listings)."""
    start, end, _ = time_range()
    site = parse_site(request.args.get("site"))
    rows = hourly_counts(db.session, rules(), start, end, site)
    return {"start": iso(start), "end": iso(end), "hours": [r | {"hour": iso(r["hour"])} for r in rows]}
