"""Rows a running platform needs that depend on configuration (reference data lives in migrations)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from oceanwatch.config import Settings
from oceanwatch.db.models import Hydrophone
from oceanwatch.geo import Site
from oceanwatch.sim.scenario import demo_sites
from oceanwatch.sites.store import create_site


def ensure_default_hydrophone(session: Session, settings: Settings) -> None:
    """Insert the configured hydrophone, in the caller's transaction, if it is not there yet (never overwrites edits)."""
    session.execute(
        insert(Hydrophone)
        .values(
            id=settings.hydrophone.id,
            name=f"{settings.hydrophone.id} hydrophone",
            latitude=settings.hydrophone.lat,
            longitude=settings.hydrophone.lon,
            channels=1,
            description="Default hydrophone from configuration",
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


def ensure_demo_sites(session: Session, settings: Settings) -> None:
    """The demo's two further simulated hydrophones along a shipping lane (`demo_sites`), added once,
    in the caller's transaction (a site an operator changed or deactivated stays as they left it)."""
    names = {"MOSS": "Moss Landing canyon", "SCRUZ": "Off Santa Cruz"}
    center = Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon)
    for site in demo_sites(center):
        if session.get(Hydrophone, site.id) is None:
            create_site(
                session,
                site.id,
                {
                    "name": names[site.id],
                    "latitude": site.latitude,
                    "longitude": site.longitude,
                    "source": {"kind": "simulator"},
                    "description": "Demo hydrophone (simulated)",
                },
                None,
            )
