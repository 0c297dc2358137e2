"""What the data management page and the JSON API both do: class edits with a preview, and listings.

`oceanwatch.truth.classmap` owns the edits, their validation and audit; this module turns web input
(a form or a JSON body) into one `ClassEdit`, rehearses it to count the labels it would change,
and on confirmation applies it and queues the relabel job.  Role rules live here too, so the
page and the API refuse the same things.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.args import iso, parse_integer, parse_time
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.db.models import (
    AudioFile,
    ClassMapping,
    ShipClass,
    StorageUsage,
    User,
    Vessel,
    VesselClassOverride,
)
from oceanwatch.storage import usage
from oceanwatch.truth import classmap

ACTION_ROLES = {"mapping": "operator", "override": "operator", "class": "operator", "merge": "admin", "remove": "admin"}
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassEdit:
    """One requested edit, validated for shape (classmap validates meaning) and not yet applied."""

    action: str
    ship_types: tuple[int, ...] = ()
    class_code: str | None = None
    mmsi: int | None = None
    reason: str = ""
    code: str = ""
    into: str = ""
    name: str = ""
    description: str = ""
    color: str = "#888888"
    is_background: bool = False
    since: dt.datetime | None = None

    @property
    def role(self) -> str:
        return ACTION_ROLES[self.action]

    def run(self, session: Session, user_id: int | None) -> classmap.Edit:
        """Call the classmap function this edit stands for, in `session`."""
        if self.action == "mapping":
            return classmap.set_mapping(session, list(self.ship_types), self.class_code, user_id)
        if self.action == "override":
            return classmap.set_override(session, int(self.mmsi or 0), self.class_code, user_id, self.reason)
        if self.action == "class":
            return classmap.save_class(
                session,
                self.code,
                self.name,
                self.description,
                user_id,
                color=self.color,
                is_background=self.is_background,
            )
        if self.action == "merge":
            return classmap.merge_class(session, self.code, self.into, user_id)
        return classmap.remove_class(session, self.code, user_id)

    def describe(self) -> str:
        """One line for the confirmation panel."""
        target = self.class_code or "unmapped"
        return {
            "mapping": f"map AIS type(s) {', '.join(map(str, self.ship_types))} to {target}",
            "override": (
                f"pin vessel {self.mmsi} to {self.class_code}"
                if self.class_code
                else f"remove the override of vessel {self.mmsi}"
            ),
            "class": f"save class {self.code} ({self.name})",
            "merge": f"merge class {self.code} into {self.into}",
            "remove": f"remove class {self.code}",
        }[self.action]

    def as_form(self) -> dict[str, str]:
        """The fields that re-create this edit, for the confirm form's hidden inputs."""
        return {
            "action": self.action,
            "ship_types": ",".join(map(str, self.ship_types)),
            "class_code": self.class_code or "",
            "mmsi": "" if self.mmsi is None else str(self.mmsi),
            "reason": self.reason,
            "code": self.code,
            "into": self.into,
            "name": self.name,
            "description": self.description,
            "color": self.color,
            "is_background": "1" if self.is_background else "",
            "since": self.since.date().isoformat() if self.since else "",
        }


def _ship_types(raw: Any) -> tuple[int, ...]:
    """A list of ints, or text such as "70, 71-74"."""
    if isinstance(raw, list):
        values = raw
    else:
        values = []
        for part in str(raw or "").replace(" ", "").split(","):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            try:
                first, last = int(lo), int(hi or lo)
            except ValueError:
                raise InputError(f"ship_types: numbers or ranges such as 70,71-74, not {part!r}") from None
            values.extend(range(first, min(last, first + 100) + 1))  # past 0-99 anyway: classmap says so
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InputError("ship_types: at least one AIS type code (integers 0-99)")
    return tuple(sorted(set(values)))


def _since(raw: Any) -> dt.datetime | None:
    if raw in (None, "", "all"):
        return None
    return parse_time("since", str(raw), example="2026-01-31 (or empty for all history)")


def _flag(raw: Any) -> bool:
    return raw is True or str(raw).lower() in ("1", "true", "on", "yes")


def parse_edit(data: Mapping[str, Any]) -> ClassEdit:
    """A ClassEdit from form fields or a JSON object; InputError says what is wrong."""
    action = str(data.get("action", ""))
    if action not in ACTION_ROLES:
        raise InputError(f"action: one of {', '.join(ACTION_ROLES)}")
    since = _since(data.get("since"))
    class_code = str(data.get("class_code") or "").strip() or None
    if action == "mapping":
        return ClassEdit(action, ship_types=_ship_types(data.get("ship_types")), class_code=class_code, since=since)
    if action == "override":
        try:
            mmsi = parse_integer("mmsi", data.get("mmsi"))
        except InputError as exc:
            raise InputError(f"{exc} (the vessel's MMSI)") from None
        return ClassEdit(
            action, mmsi=mmsi, class_code=class_code, reason=str(data.get("reason") or "")[:500], since=since
        )
    code = str(data.get("code") or "").strip()
    if not code:
        raise InputError("code: the class code")
    if action == "class":
        color = str(data.get("color") or "#888888")
        if not COLOR.match(color):
            raise InputError("color: a colour such as #1b9e77")
        name = str(data.get("name") or "").strip()
        if not name:
            raise InputError("name: the class name")
        return ClassEdit(
            action,
            code=code,
            name=name[:100],
            description=str(data.get("description") or ""),
            color=color,
            is_background=_flag(data.get("is_background")),
            since=since,
        )
    if action == "merge":
        into = str(data.get("into") or "").strip()
        if not into:
            raise InputError("into: the class to merge into")
        return ClassEdit(action, code=code, into=into, since=since)
    return ClassEdit(action, code=code, since=since)


def preview(edit: ClassEdit, user_id: int | None) -> dict[str, Any]:
    """Labels the edit's relabel would change, over all history and from `since`; nothing is kept."""
    applied, (all_history, changed) = classmap.rehearse(
        db.session, lambda session: edit.run(session, user_id), (None, edit.since)
    )
    return {
        "edit": edit.describe(),
        "vessels": _vessel_count(applied),
        "changed": changed,
        "changed_all_history": all_history,
        "since": edit.since.isoformat() if edit.since else None,
    }


def apply(edit: ClassEdit, user_id: int | None) -> dict[str, Any]:
    """Make the edit (audited by classmap) and queue its relabel when it can change any label."""
    applied = edit.run(db.session, user_id)
    job_id = None
    if applied.mmsis is None or applied.mmsis:
        job_id = classmap.enqueue_relabel(db.session, applied, edit.since, user_id)
    db.session.commit()
    return {
        "edit": edit.describe(),
        "vessels": _vessel_count(applied),
        "job_id": job_id,
        "since": edit.since.isoformat() if edit.since else None,
    }


def _vessel_count(edit: classmap.Edit) -> int | None:
    """How many vessels the edit can affect (None: any vessel)."""
    return None if edit.mmsis is None else len(edit.mmsis)


# ---------------------------------------------------------------- listings


def classes() -> list[dict[str, Any]]:
    rows = db.session.scalars(select(ShipClass).order_by(ShipClass.sort_order, ShipClass.code))
    return [
        {
            "code": c.code,
            "name": c.name,
            "description": c.description,
            "color": c.color,
            "is_background": c.is_background,
            "active": c.active,
        }
        for c in rows
    ]


def mappings() -> list[dict[str, Any]]:
    """All 100 AIS types with designation, class and how many known vessels have the type."""
    counts = dict(db.session.execute(select(Vessel.ship_type, func.count()).group_by(Vessel.ship_type)).all())
    rows = db.session.execute(
        select(ClassMapping, User.username)
        .outerjoin(User, User.id == ClassMapping.updated_by)
        .order_by(ClassMapping.ship_type)
    )
    return [
        {
            "ship_type": m.ship_type,
            "designation": m.designation,
            "class_code": m.class_code,
            "vessels": counts.get(m.ship_type, 0),
            "updated_at": iso(m.updated_at),
            "updated_by": name,
        }
        for m, name in rows
    ]


def overrides() -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(VesselClassOverride, Vessel.name, Vessel.ship_type, User.username)
        .outerjoin(Vessel, Vessel.mmsi == VesselClassOverride.mmsi)
        .outerjoin(User, User.id == VesselClassOverride.created_by)
        .order_by(VesselClassOverride.mmsi)
    )
    return [
        {
            "mmsi": o.mmsi,
            "class_code": o.class_code,
            "reason": o.reason,
            "vessel_name": name,
            "ship_type": ship_type,
            "created_by": user,
            "created_at": iso(o.created_at),
        }
        for o, name, ship_type, user in rows
    ]


def vessel_stats() -> list[dict[str, Any]]:
    """Vessel counts and size statistics per AIS type, with its designation and current class.

    One grouped query: what an operator looks at to decide where a type belongs.
    """
    stats: dict[str, Callable[[Any], Any]] = {"min": func.min, "max": func.max, "mean": func.avg}
    columns = [
        fn(getattr(Vessel, col)).label(f"{col}_{name}")
        for col in ("length_m", "beam_m", "tonnage")
        for name, fn in stats.items()
    ]
    rows = db.session.execute(
        select(
            Vessel.ship_type,
            ClassMapping.designation,
            ClassMapping.class_code,
            func.count().label("vessels"),
            func.count(VesselClassOverride.mmsi).label("overridden"),
            *columns,
        )
        .outerjoin(ClassMapping, ClassMapping.ship_type == Vessel.ship_type)
        .outerjoin(VesselClassOverride, VesselClassOverride.mmsi == Vessel.mmsi)
        .group_by(Vessel.ship_type, ClassMapping.designation, ClassMapping.class_code)
        .order_by(Vessel.ship_type.nulls_last())
    )
    out = []
    for row in rows:
        item = dict(row._mapping)
        item["designation"] = item["designation"] or ("No static data" if row.ship_type is None else "Unknown")
        out.append(
            {k: (float(v) if k.endswith(("_mean", "_min", "_max")) and v is not None else v) for k, v in item.items()}
        )
    return out


def audio_files(limit: int = 50) -> list[dict[str, Any]]:
    """The newest recordings the directory ingest saw, with status, windows and the reason of any refusal."""
    rows = db.session.scalars(select(AudioFile).order_by(AudioFile.id.desc()).limit(limit))
    return [
        {
            "id": f.id,
            "name": Path(f.path).name,
            "hydrophone_id": f.hydrophone_id,
            "start_time": iso(f.start_time),
            "duration_s": f.duration_s,
            "sample_rate": f.sample_rate,
            "channels": f.channels,
            "status": f.status,
            "windows": f.windows_count,
            "reason": f.error,
        }
        for f in rows
    ]


def storage() -> dict[str, Any]:
    """What retention keeps and what each site stores, as the last retention pass measured it."""
    rules = current_app.config["OCEANWATCH_SETTINGS"].retention
    rows = db.session.scalars(select(StorageUsage).order_by(StorageUsage.hydrophone_id)).all()
    sites = []
    for row in rows:
        entry = {"days": row.days, "bytes": row.bytes}
        own = {k: v for k, v in row.bytes.items() if k != usage.SHARED}
        sites.append(
            {
                "site": row.hydrophone_id,
                "measured_at": row.measured_at,
                "days": row.days,
                "total_bytes": sum(own.values()),
                "per_day": usage.per_day(entry),
                "shared_positions_bytes": row.bytes.get(usage.SHARED, 0),
            }
        )
    return {"spectrogram_days": rules.spectrogram_days, "clip_days": rules.clip_days, "sites": sites}
