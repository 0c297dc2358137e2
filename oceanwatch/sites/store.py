"""Sites read and changed in the caller's transaction; every change audited with who made it.

A site is never deleted (its windows, truth and scores refer to it): it is deactivated, and
ingest stops serving it within one refresh.  Its id never changes, for the same reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from oceanwatch.db.audit import record
from oceanwatch.db.models import Hydrophone
from oceanwatch.geo import Site
from oceanwatch.sites.spec import SiteError, SiteFields, UnknownSite, check_id, parse_fields

FIELDS = tuple(SiteFields.model_fields)


def list_sites(session: Session, active_only: bool = False) -> list[Hydrophone]:
    """Every site (or only the active ones), in id order."""
    query = select(Hydrophone).order_by(Hydrophone.id)
    if active_only:
        query = query.where(Hydrophone.active.is_(True))
    return list(session.scalars(query))


def active_sites(session: Session) -> list[Site]:
    """The positions of the active sites, as the geodesy and the simulators take them."""
    return [Site(h.id, h.latitude, h.longitude) for h in list_sites(session, active_only=True)]


def site_fields(site: Hydrophone) -> dict[str, Any]:
    """A stored site's fields, as `parse_fields` takes them back."""
    return {name: getattr(site, name) for name in FIELDS}


def site_dict(site: Hydrophone) -> dict[str, Any]:
    """A site as the API and the page show it."""
    return {
        "id": site.id,
        **site_fields(site),
        "created_at": site.created_at.isoformat() if site.created_at else None,
        "updated_at": site.updated_at.isoformat() if site.updated_at else None,
    }


def get_site(session: Session, site_id: str) -> Hydrophone:
    site = session.get(Hydrophone, site_id)
    if site is None:
        raise UnknownSite(f"no site {site_id!r}")
    return site


def create_site(session: Session, site_id: Any, data: dict[str, Any], actor_id: int | None) -> Hydrophone:
    """Add a site; refused if the id is taken (an edit is `update_site`)."""
    values = parse_fields(data)
    inserted = session.execute(
        insert(Hydrophone)
        .values(id=check_id(site_id), **values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Hydrophone.id)
    ).scalar()
    if inserted is None:
        raise SiteError(f"site {site_id!r} exists already")
    record(session, actor_id, "site.create", "site", site_id, **values)
    return get_site(session, site_id)


def update_site(session: Session, site_id: str, changes: dict[str, Any], actor_id: int | None) -> Hydrophone:
    """Change some of a site's fields; the whole site is checked again, and the audit says old and new."""
    site = get_site(session, site_id)
    if "id" in changes and changes["id"] != site_id:
        raise SiteError("a site's id cannot change (its windows and truth refer to it): add a new site")
    before = site_fields(site)
    after = parse_fields({**before, **{k: v for k, v in changes.items() if k != "id"}})
    changed = {k: {"old": before[k], "new": v} for k, v in after.items() if before[k] != v}
    if changed:
        for name, value in after.items():
            setattr(site, name, value)
        site.updated_at = func.now()
        action = "site.update"
        if set(changed) == {"active"}:
            action = "site.activate" if after["active"] else "site.deactivate"
        record(session, actor_id, action, "site", site_id, changes=changed)
        session.flush()
    return site
