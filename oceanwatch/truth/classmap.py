"""Editing ship classes, the AIS-type mapping and per-vessel overrides, and relabelling after an edit.

Every edit is audited with its user in the same transaction, and says which vessels it can
affect; the relabel job then re-derives classes only for truth rows holding those vessels,
over all history or from a date the user chooses (`oceanwatch.truth.labels.derive_classes`).
Edits take the caller's Session and never commit: the request (or command) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from oceanwatch import jobs
from oceanwatch.db import engine_for
from oceanwatch.db.audit import record
from oceanwatch.db.models import ClassMapping, ShipClass, Vessel, VesselClassOverride
from oceanwatch.truth.labels import affected_windows, derive_classes, preview_changes


class ClassEditError(ValueError):
    """An edit that would leave the classes inconsistent (unknown code, merging a class into itself...)."""


@dataclass(frozen=True)
class Edit:
    """What an edit did: the vessels whose class may have changed (None = any vessel)."""

    mmsis: list[int] | None


def rehearse(
    session: Session, apply: Callable[[Session], Edit], since: Sequence[dt.datetime | None] = (None,)
) -> tuple[Edit, list[int]]:
    """Run an edit and count the truth rows its relabel would change from each `since`, then roll it all back.

    This is what lets a page say "N labels would change" *before* the user confirms: the edit,
    its audit row and the counted relabels happen in a savepoint that is always rolled back, so the
    caller's transaction is as it was.  `apply` runs one of the edit functions below on the session
    it is given; None in `since` is all history.
    """
    savepoint = session.begin_nested()
    try:
        edit = apply(session)
        session.flush()
        conn = session.connection()
        return edit, [preview_changes(conn, mmsis=edit.mmsis, since=s) for s in since]
    finally:
        savepoint.rollback()


def _require_class(session: Session, code: str) -> ShipClass:
    row = session.get(ShipClass, code)
    if row is None:
        raise ClassEditError(f"no ship class {code!r}")
    return row


def _vessels_of_types(session: Session, ship_types: list[int]) -> list[int]:
    """Vessels of these AIS types whose class comes from the mapping (no override)."""
    overridden = select(VesselClassOverride.mmsi)
    return list(
        session.scalars(select(Vessel.mmsi).where(Vessel.ship_type.in_(ship_types), Vessel.mmsi.not_in(overridden)))
    )


def save_class(
    session: Session,
    code: str,
    name: str,
    description: str,
    user_id: int | None,
    color: str = "#888888",
    is_background: bool = False,
) -> Edit:
    """Create or update a class; renaming is by code, so labels never need rewriting for it."""
    if not code or len(code) > 16:
        raise ClassEditError("a class code needs 1 to 16 characters")
    session.execute(
        insert(ShipClass)
        .values(code=code, name=name, description=description, color=color, is_background=is_background, active=True)
        .on_conflict_do_update(
            index_elements=["code"],
            set_={
                "name": name,
                "description": description,
                "color": color,
                "is_background": is_background,
                "active": True,
            },
        )
    )
    record(session, user_id, "class.save", "ship_class", code, name=name, is_background=is_background)
    return Edit(mmsis=[] if not is_background else None)


def set_mapping(session: Session, ship_types: list[int], class_code: str | None, user_id: int | None) -> Edit:
    """Map AIS ship types to a class (None: unmapped, so their windows become ambiguous)."""
    if class_code is not None:
        _require_class(session, class_code)
    old = dict(
        session.execute(
            select(ClassMapping.ship_type, ClassMapping.class_code).where(ClassMapping.ship_type.in_(ship_types))
        ).all()
    )
    missing = sorted(set(ship_types) - set(old))
    if missing:
        raise ClassEditError(f"AIS ship types must be 0-99: {missing}")
    session.execute(
        update(ClassMapping)
        .where(ClassMapping.ship_type.in_(ship_types))
        .values(class_code=class_code, updated_by=user_id, updated_at=text("now()"))
    )
    record(
        session,
        user_id,
        "mapping.set",
        "class_mapping",
        ",".join(map(str, sorted(ship_types))),
        before={str(k): v for k, v in sorted(old.items())},
        after=class_code,
    )
    return Edit(mmsis=_vessels_of_types(session, ship_types))


def set_override(session: Session, mmsi: int, class_code: str | None, user_id: int | None, reason: str = "") -> Edit:
    """Pin one vessel to a class, or (None) drop its override so the mapping applies again."""
    before = session.get(VesselClassOverride, mmsi)
    old = before.class_code if before else None
    if class_code is None:
        session.execute(delete(VesselClassOverride).where(VesselClassOverride.mmsi == mmsi))
    else:
        _require_class(session, class_code)
        session.execute(
            insert(VesselClassOverride)
            .values(mmsi=mmsi, class_code=class_code, reason=reason, created_by=user_id)
            .on_conflict_do_update(
                index_elements=["mmsi"], set_={"class_code": class_code, "reason": reason, "created_by": user_id}
            )
        )
    record(session, user_id, "override.set", "vessel", mmsi, before=old, after=class_code, reason=reason)
    return Edit(mmsis=[mmsi])


def merge_class(session: Session, code: str, into: str, user_id: int | None) -> Edit:
    """Move every mapping and override of `code` to `into`, then delete `code`."""
    if code == into:
        raise ClassEditError("a class cannot be merged into itself")
    _require_class(session, code)
    _require_class(session, into)
    types = list(session.scalars(select(ClassMapping.ship_type).where(ClassMapping.class_code == code)))
    pinned = list(session.scalars(select(VesselClassOverride.mmsi).where(VesselClassOverride.class_code == code)))
    session.execute(update(ClassMapping).where(ClassMapping.class_code == code).values(class_code=into))
    session.execute(update(VesselClassOverride).where(VesselClassOverride.class_code == code).values(class_code=into))
    session.execute(delete(ShipClass).where(ShipClass.code == code))
    record(session, user_id, "class.merge", "ship_class", code, into=into, ship_types=types, vessels=pinned)
    return Edit(mmsis=sorted(set(_vessels_of_types(session, types)) | set(pinned)))


def remove_class(session: Session, code: str, user_id: int | None) -> Edit:
    """Delete a class: its ship types become unmapped and its overrides are dropped."""
    row = _require_class(session, code)
    if row.is_background:
        raise ClassEditError("the background class cannot be removed; make another class the background first")
    types = list(session.scalars(select(ClassMapping.ship_type).where(ClassMapping.class_code == code)))
    pinned = list(session.scalars(select(VesselClassOverride.mmsi).where(VesselClassOverride.class_code == code)))
    session.execute(update(ClassMapping).where(ClassMapping.class_code == code).values(class_code=None))
    session.execute(delete(VesselClassOverride).where(VesselClassOverride.class_code == code))
    session.execute(delete(ShipClass).where(ShipClass.code == code))
    record(session, user_id, "class.remove", "ship_class", code, ship_types=types, vessels=pinned)
    return Edit(mmsis=sorted(set(_vessels_of_types(session, types)) | set(pinned)))


def enqueue_relabel(session: Session, edit: Edit, since: dt.datetime | None, user_id: int | None) -> int:
    """Queue the cascade after an edit (in its transaction): all history (since=None) or windows from `since`."""
    return jobs.add(
        session, jobs.JobKind.RELABEL, {"mmsis": edit.mmsis, "since": since.isoformat() if since else None}, user_id
    )


def run_relabel(url: str, job_id: int, params: dict[str, Any], chunk: int = 10_000) -> dict[str, Any]:
    """Find the windows holding an affected vessel once (one index scan), then re-derive them in chunks.

    Chunks keep each transaction short and let progress show; one upfront scan matters
    because the vessel index cannot be narrowed by time, so scanning it per time step would
    repeat the whole year's lookup every step.
    """
    mmsis = params.get("mmsis")
    since = dt.datetime.fromisoformat(params["since"]) if params.get("since") else None
    engine = engine_for(url)
    with engine.connect() as conn:
        window_ids = affected_windows(conn, mmsis, since)
    changed = 0
    for i in range(0, len(window_ids), chunk):
        with engine.begin() as conn:
            changed += derive_classes(conn, window_ids=window_ids[i : i + chunk])
        done = min(len(window_ids), i + chunk)
        jobs.progress(
            url, job_id, done / len(window_ids), f"{done} of {len(window_ids)} windows: {changed} labels changed so far"
        )
    return {"changed": changed, "windows": len(window_ids), "message": f"{changed} labels changed"}
