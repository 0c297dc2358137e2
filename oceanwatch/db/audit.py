"""The audit log: every state change a person or a job makes, with who made it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from oceanwatch.db.models import AuditLog


def record(
    session: Session, user_id: int | None, action: str, target_type: str, target_id: Any, **details: Any
) -> None:
    """Add an audit row in the caller's transaction, so the change and its record commit together."""
    session.add(
        AuditLog(
            user_id=user_id,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=details,
        )
    )
