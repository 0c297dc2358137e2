"""What the model page and the JSON API both do to the registry: upload, state changes, listings.

The registry (`oceanwatch.registry.store`) owns the rules; this module only turns web input
(uploaded files, an action name) into its calls and its answers into plain dicts.  The calls run
in the request's session and this module commits them: the request owns the transaction.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.api.args import iso
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.db.audit import record
from oceanwatch.db.models import AuditLog, MLModel, User
from oceanwatch.registry import store
from oceanwatch.registry.artifact import ArtifactError
from oceanwatch.registry.manifest import ManifestError

ACTIONS = ("deploy", "deactivate", "reactivate", "rollback")
UPLOAD_ERRORS = (ArtifactError, ManifestError, store.RegistryError)


class UploadError(InputError):
    """An upload that is refused; `problems` lists every reason to show the user."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def as_json(self) -> dict[str, Any]:
        return {"error": "validation failed", "problems": self.problems}


def _models_dir() -> Path:
    return current_app.config["OCEANWATCH_SETTINGS"].data_dir / "models"


def upload(files: dict[str, FileStorage], user_id: int | None) -> int:
    """Register an upload: `package` (.zip), or `model` (.keras) with `manifest` (.json); returns the id."""
    package, keras_file, manifest_file = files.get("package"), files.get("model"), files.get("manifest")
    with tempfile.TemporaryDirectory(prefix="ow-upload-") as tmp:
        root = Path(tmp)
        if package and package.filename:
            target = root / "package.zip"
            package.save(target)
        elif keras_file and keras_file.filename and manifest_file and manifest_file.filename:
            target = root / "package"
            target.mkdir()
            keras_file.save(target / "model.keras")
            manifest_file.save(target / "manifest.json")
        else:
            problems = ["send a .zip package, or a .keras model together with its manifest .json"]
            _record_rejection(problems, user_id)
            raise UploadError(problems)
        try:
            with store.open_package(target) as (keras_path, manifest):
                model_id = store.register(db.session, _models_dir(), keras_path, manifest, user_id=user_id)
            db.session.commit()
            return model_id
        except UPLOAD_ERRORS as exc:
            db.session.rollback()
            problems = exc.problems if isinstance(exc, ManifestError) else [str(exc)]
            _record_rejection(problems, user_id)
            raise UploadError(problems) from None


def _record_rejection(problems: list[str], user_id: int | None) -> None:
    """Refused uploads are counted in the audit log (action `model.upload_rejected`) with their reasons."""
    record(db.session, user_id, "model.upload_rejected", "model", None, problems=problems[:20])
    db.session.commit()


def apply(model_id: int, action: str, user_id: int | None) -> int:
    """Run a registry action on a model; returns the id of the model that is active afterwards (or this one)."""
    if action not in ACTIONS:
        raise store.RegistryError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    active = model_id
    if action == "deactivate":
        store.deactivate(db.session, model_id, user_id)
    elif action == "rollback":
        row = db.session.get(MLModel, model_id)
        if row is None:
            raise store.RegistryError(f"no model with id {model_id}")
        active = store.rollback(db.session, row.name, user_id)
    else:
        store.deploy(db.session, model_id, user_id, action="model.reactivate" if action == "reactivate" else None)
    db.session.commit()
    return active


def model_dict(row: MLModel) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "task": row.task,
        "status": row.status,
        "healthy": row.healthy,
        "last_error": row.last_error,
        "class_names": list(row.class_names),
        "feature_spec_hash": row.feature_spec_hash,
        "uncertainty_method": row.uncertainty_method,
        "mc_passes": row.mc_passes,
        "owner": row.owner,
        "description": row.description,
        "sha256": row.sha256,
        "created_at": iso(row.created_at),
        "deployed_at": iso(row.deployed_at),
        "last_prediction_at": iso(row.last_prediction_at),
    }


def list_models() -> list[MLModel]:
    return list(db.session.scalars(select(MLModel).order_by(MLModel.name, MLModel.id.desc())))


def audit_trail(model_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    query = (
        select(AuditLog, User.username)
        .outerjoin(User, User.id == AuditLog.user_id)
        .where(AuditLog.target_type == "model")
        .order_by(AuditLog.time.desc(), AuditLog.id.desc())
        .limit(limit)
    )
    if model_id is not None:
        query = query.where(AuditLog.target_id == str(model_id))
    return [
        {
            "time": iso(a.time),
            "user": name or "system",
            "action": a.action,
            "model_id": a.target_id,
            "details": json.dumps(a.details, sort_keys=True),
        }
        for a, name in db.session.execute(query)
    ]
