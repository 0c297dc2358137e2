"""Rows a running platform needs that depend on configuration (reference data lives in migrations)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from oceanwatch.config import Settings
from oceanwatch.db.models import Hydrophone


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
