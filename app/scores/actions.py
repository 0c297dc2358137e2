"""What the scores page and the JSON API both compute: `oceanwatch.scoring.scores` over a chosen selection.

A `Selection` is the request's models, radius, time range and bucket, validated once; the
scores themselves come from `oceanwatch.scoring.scores` unchanged, so the page, the API and the
scoring tests agree by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from app.api.args import parse_integer, parse_site, parse_time
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.db.models import MLModel
from oceanwatch.scoring import reports as scoring
from oceanwatch.sites.store import list_sites

BUCKETS = ("day", "week")
PRESETS = {"7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30), "all": None}
DEFAULT_PRESET = "7d"
CALIBRATION_BINS = 10
COMPARISON_TIMEOUT_MS = 10_000
"""The same-window comparison reads raw prediction rows (no rollup can know which windows every model of an
arbitrary set predicted): months of several models take longer than a page may, so it gives up with a reason."""


class ComparisonTooSlow(RuntimeError):
    """The same-window comparison did not finish within `COMPARISON_TIMEOUT_MS`; a shorter range will."""


@dataclass(frozen=True)
class Selection:
    """Models, radius, [start, end) range (None = unbounded), site (None = every site) and trend bucket
    of one scores request."""

    model_ids: tuple[int, ...]
    radius_km: int
    start: dt.datetime | None
    end: dt.datetime | None
    bucket: str = "day"
    site: str | None = None

    def scope(self, model_id: int, site: str | None = None) -> scoring.Scope:
        return scoring.Scope(model_id, self.radius_km, self.start, self.end, site or self.site)


def radii() -> tuple[int, ...]:
    return tuple(current_app.config["OCEANWATCH_SETTINGS"].truth.radii_km)


def _int(name: str, raw: str) -> int:
    try:
        return parse_integer(name, raw)
    except InputError as exc:
        raise InputError(f"{exc}, not {raw!r}") from None


def _time(name: str, raw: str | None, date_end: bool = False) -> dt.datetime | None:
    """ISO time or date; a bare date as an end means the end of that day (the form's dates are inclusive)."""
    if not raw:
        return None
    value = parse_time(name, raw, example="2026-01-31")
    return value + dt.timedelta(days=1) if date_end and len(raw) == 10 else value


def parse(args: Mapping[str, Any], model_ids: Sequence[str], preset_default: str | None = None) -> Selection:
    """A Selection from query arguments; `preset_default` ("7d") applies when no range is given (the page).

    The API passes no default, so without start/end it scores all history.
    """
    ids = tuple(dict.fromkeys(_int("model_id", m) for m in model_ids if m != ""))
    if not ids:
        raise InputError("model_id: choose at least one model")
    known = set(db.session.scalars(select(MLModel.id).where(MLModel.id.in_(ids))))
    if missing := [m for m in ids if m not in known]:
        raise InputError(f"model_id: no model with id {', '.join(map(str, missing))}")
    radius = _int("radius_km", args.get("radius_km") or str(radii()[0]))
    if radius not in radii():
        raise InputError(f"radius_km: one of {', '.join(map(str, radii()))}")
    bucket = args.get("bucket") or "day"
    if bucket not in BUCKETS:
        raise InputError("bucket: day or week")
    start, end = _time("start", args.get("start")), _time("end", args.get("end"), date_end=True)
    preset = args.get("preset") or (preset_default if start is None and end is None else None)
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"preset: one of {', '.join(PRESETS)}")
        span = PRESETS[preset]
        # whole UTC days (today included), so the daily rollup answers instead of the raw rows
        today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        start, end = (None, None) if span is None else (today - span, None)
    if start is not None and end is not None and start >= end:
        raise InputError("start must be before end")
    return Selection(ids, radius, start, end, bucket, parse_site(args.get("site")))


def metrics(selection: Selection) -> list[dict[str, Any]]:
    """Each selected model's report, trend, calibration and uncertainty AUROCs, in the selection's order.

    Every kind of score is one query for all the models (`oceanwatch.scoring.scores` groups by model), so the
    database round trips do not grow with the number of models chosen.
    """
    conn = db.session.connection()
    scopes = [selection.scope(m) for m in selection.model_ids]
    reports = scoring.reports(conn, scopes)
    trends = scoring.trends(conn, scopes, selection.bucket)
    calibrations = scoring.calibrations(conn, scopes, CALIBRATION_BINS)
    aurocs = scoring.uncertainty_aurocs(conn, scopes)
    return [
        {"model_id": m, "report": reports[m], "trend": trends[m], "calibration": calibrations[m], "auroc": aurocs[m]}
        for m in selection.model_ids
    ]


def comparison(selection: Selection) -> dict[str, dict[str, Any]]:
    """Every selected model's report on the windows all of them predicted (keys are model ids as text).

    Runs in a savepoint under a statement timeout: a cancelled comparison rolls back to it (which also
    undoes the timeout) and leaves the request's transaction usable for everything else.
    """
    try:
        with db.session.begin_nested():
            conn = db.session.connection()
            conn.execute(text(f"set local statement_timeout = {int(COMPARISON_TIMEOUT_MS)}"))
            reports = scoring.compare(
                conn, selection.model_ids, selection.radius_km, selection.start, selection.end, selection.site
            )
            conn.execute(text("set local statement_timeout to default"))
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) != "57014":  # query_canceled: the timeout, not a real fault
            raise
        raise ComparisonTooSlow(
            f"comparing {len(selection.model_ids)} models on the same windows over this range "
            f"takes more than {COMPARISON_TIMEOUT_MS / 1000:.0f} s; choose a shorter range"
        ) from exc
    return {str(m): r for m, r in reports.items()}


def per_site(selection: Selection, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each site's headline scores per selected model (one row per site and model with scored windows),
    so an operator sees which hydrophone a model does well or badly at.

    `results` are the selection's own `metrics`: with one site in view (chosen, or the only one) they
    are that site's rows already, and no report is computed twice."""
    sites = [selection.site] if selection.site else [s.id for s in list_sites(db.session)]
    if len(sites) == 1:
        by_site = {sites[0]: {r["model_id"]: r["report"] for r in results}}
    else:  # every site's rows from one grouped query
        scopes = [selection.scope(m) for m in selection.model_ids]
        by_site = scoring.site_reports(db.session.connection(), scopes)
    rows = []
    for site, reports in by_site.items():
        for model_id in selection.model_ids:
            report = reports.get(model_id)
            if report is not None and report["n"]:
                accuracy = report["accuracy"] if report["task"] == "multi_class" else report["subset_accuracy"]
                rows.append(
                    {
                        "site": site,
                        "model_id": model_id,
                        "n": report["n"],
                        "accuracy": accuracy,
                        "macro_f1": report["f1"]["macro"],
                    }
                )
    return rows


def selection_dict(selection: Selection) -> dict[str, Any]:
    return {
        "model_ids": list(selection.model_ids),
        "radius_km": selection.radius_km,
        "start": selection.start.isoformat() if selection.start else None,
        "end": selection.end.isoformat() if selection.end else None,
        "bucket": selection.bucket,
        "site": selection.site,
    }


def label(model: MLModel) -> str:
    return f"{model.name} v{model.version} (#{model.id})"
