"""The deployed models as pages name them: the live page's lanes, the home page and review all read them here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from oceanwatch.db.models import MLModel, ModelStatus


def model_label(name: str, version: str) -> str:
    """How a person tells model versions apart: 'name vversion'."""
    return f"{name} v{version}"


@dataclass(frozen=True)
class ModelInfo:
    id: int
    name: str
    version: str
    class_names: tuple[str, ...]

    @property
    def label(self) -> str:
        return model_label(self.name, self.version)


def active_models(session: Session) -> list[ModelInfo]:
    """Every active model, by name then registration order."""
    rows = session.execute(
        select(MLModel.id, MLModel.name, MLModel.version, MLModel.class_names)
        .where(MLModel.status == ModelStatus.ACTIVE)
        .order_by(MLModel.name, MLModel.id)
    ).all()
    return [ModelInfo(r.id, r.name, r.version, tuple(r.class_names)) for r in rows]
