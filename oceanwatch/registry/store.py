"""The model registry in Postgres: register packages, keep versions, deploy, deactivate, roll back.

At most one version of a model name is active at a time: deploying a version retires the
others of the same name, which is what makes "roll back" well defined.  Every change is
written to the audit log in the same transaction as the change itself: these functions take
the caller's Session and never commit (a request, a CLI command or a job owns the transaction).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oceanwatch import jobs
from oceanwatch.audio.features import check_computes
from oceanwatch.checksums import sha256_file
from oceanwatch.config import get_settings
from oceanwatch.db.audit import record
from oceanwatch.db.models import MLModel, ModelStatus
from oceanwatch.registry import zipsafe
from oceanwatch.registry.artifact import ArtifactError, check_against_manifest, load_safely
from oceanwatch.registry.manifest import Manifest, ManifestError, parse_manifest

MAX_PACKAGE_BYTES = 512 * 1024 * 1024


class RegistryError(ValueError):
    """A registry request that cannot be done (duplicate version, unknown model, wrong state)."""


@contextmanager
def open_package(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(model.keras path, manifest dict) from a package: a directory or a .zip holding both files."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="ow-package-") as tmp:
        if path.is_dir():
            root = path
        elif zipfile.is_zipfile(path) and not _is_keras_archive(path):
            with zipsafe.open_zip(path, _unreadable_package) as archive:
                if sum(i.file_size for i in archive.infolist()) > MAX_PACKAGE_BYTES:
                    raise RegistryError("package is larger than the 512 MiB limit")
                wanted = {n for n in archive.namelist() if Path(n).name in ("model.keras", "manifest.json")}
                for name in wanted:
                    target = Path(tmp) / Path(name).name
                    target.write_bytes(archive.read(name))
            root = Path(tmp)
        else:
            raise RegistryError("a model package is a directory or a .zip with model.keras and manifest.json")
        keras_path, manifest_path = root / "model.keras", root / "manifest.json"
        missing = [p.name for p in (keras_path, manifest_path) if not p.is_file()]
        if missing:
            raise RegistryError(f"package lacks {', '.join(missing)}")
        manifest = zipsafe.load_json(
            manifest_path.read_bytes(), lambda reason: ManifestError([reason]), "manifest.json"
        )
        yield keras_path, manifest


def _unreadable_package(reason: str) -> RegistryError:
    return RegistryError(f"the package cannot be read ({reason})")


def _is_keras_archive(path: Path) -> bool:
    with zipsafe.open_zip(path, _unreadable_package) as archive:
        return "config.json" in archive.namelist()


def validate(keras_path: Path, manifest_data: dict[str, Any]) -> Manifest:
    """Everything registration checks, without storing anything (the upload page's preview)."""
    manifest = parse_manifest(manifest_data)
    try:  # once here, so a spec ingest cannot compute never reaches ingest
        check_computes(manifest.feature_spec)
    except ValueError as exc:
        raise ManifestError([f"feature_spec: {exc}"]) from None
    check_against_manifest(load_safely(keras_path), manifest)
    return manifest


def register(
    session: Session, models_dir: Path, keras_path: Path, manifest_data: dict[str, Any], user_id: int | None = None
) -> int:
    """Validate, store the artifact with its checksum, and add a `registered` version; returns its id."""
    manifest = validate(keras_path, manifest_data)
    dest = Path(models_dir) / manifest.name / manifest.version
    exists = session.scalar(
        select(MLModel.id).where(MLModel.name == manifest.name, MLModel.version == manifest.version)
    )
    if exists is not None:
        raise RegistryError(f"{manifest.name} version {manifest.version} is already registered (id {exists})")
    dest.mkdir(parents=True, exist_ok=True)
    artifact = dest / "model.keras"
    shutil.copyfile(keras_path, artifact)
    (dest / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    row = MLModel(
        name=manifest.name,
        version=manifest.version,
        task=manifest.task,
        class_names=list(manifest.class_names),
        feature_spec=manifest.feature_spec.to_dict(),
        feature_spec_hash=manifest.feature_spec.hash,
        uncertainty_method=manifest.uncertainty_method,
        mc_passes=manifest.passes,
        description=manifest.description,
        owner=manifest.owner,
        artifact_path=str(artifact.resolve()),
        sha256=sha256_file(artifact),
        manifest=manifest.to_dict(),
        status=ModelStatus.REGISTERED,
        created_by=user_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        user_id,
        "model.register",
        "model",
        row.id,
        name=manifest.name,
        version=manifest.version,
        sha256=row.sha256,
    )
    return row.id


def manifest_of(row: MLModel) -> Manifest:
    return parse_manifest(row.manifest)


def _get(session: Session, model_id: int) -> MLModel:
    row = session.get(MLModel, model_id, with_for_update=True)
    if row is None:
        raise RegistryError(f"no model with id {model_id}")
    return row


def deploy(
    session: Session,
    model_id: int,
    user_id: int | None = None,
    action: str | None = None,
    catchup_hours: float | None = None,
) -> int | None:
    """Make a version active (retiring other versions of the same name). Reactivating is deploying again.

    Also queues, in the same transaction, a backfill job over the last `catchup_hours`
    (default PREDICT_CATCHUP_HOURS), so the model predicts the windows stored just before
    it; returns that job's id (None when the model was already active).
    """
    hours = get_settings().predict.catchup_hours if catchup_hours is None else catchup_hours
    row = _get(session, model_id)
    if row.status == ModelStatus.ACTIVE and row.healthy:
        return None
    if sha256_file(Path(row.artifact_path)) != row.sha256:
        raise RegistryError(f"artifact of model {model_id} does not match its checksum; re-register it")
    others = session.scalars(
        select(MLModel)
        .where(MLModel.name == row.name, MLModel.id != row.id, MLModel.status == ModelStatus.ACTIVE)
        .with_for_update()
    ).all()
    for other in others:
        other.status = ModelStatus.INACTIVE
        record(session, user_id, "model.deactivate", "model", other.id, reason=f"replaced by {row.version}")
    verb = action or ("model.reactivate" if row.deployed_at is not None else "model.deploy")
    row.status, row.healthy, row.last_error = ModelStatus.ACTIVE, True, None
    row.deployed_at = dt.datetime.now(dt.timezone.utc)
    record(session, user_id, verb, "model", row.id, name=row.name, version=row.version)
    return jobs.add_backfill(session, row.id, row.deployed_at - dt.timedelta(hours=hours), row.deployed_at, user_id)


def deactivate(session: Session, model_id: int, user_id: int | None = None) -> None:
    row = _get(session, model_id)
    if row.status != ModelStatus.ACTIVE:
        raise RegistryError(f"model {model_id} is not active (status {row.status})")
    row.status = ModelStatus.INACTIVE
    record(session, user_id, "model.deactivate", "model", row.id, name=row.name, version=row.version)


def rollback(session: Session, name: str, user_id: int | None = None) -> int:
    """Deploy the version of `name` that was deployed before the current one; returns its id."""
    current = session.scalar(select(MLModel).where(MLModel.name == name, MLModel.status == ModelStatus.ACTIVE))
    if current is None:
        raise RegistryError(f"no active version of {name} to roll back from")
    previous = session.scalar(
        select(MLModel)
        .where(
            MLModel.name == name,
            MLModel.id != current.id,
            MLModel.deployed_at.is_not(None),
            MLModel.deployed_at < current.deployed_at,
        )
        .order_by(MLModel.deployed_at.desc())
        .limit(1)
    )
    if previous is None:
        raise RegistryError(f"{name} {current.version} has no previously deployed version")
    deploy(session, previous.id, user_id, action="model.rollback")
    return previous.id


def mark_unhealthy(session: Session, model_id: int, error: str) -> None:
    """Record a model's failure; the predict stream skips it until it is redeployed."""
    row = session.get(MLModel, model_id)
    if row is not None and row.healthy:
        row.healthy, row.last_error = False, error[:4000]
        record(session, None, "model.unhealthy", "model", model_id, error=error[:500])


__all__ = [
    "ArtifactError",
    "ManifestError",
    "RegistryError",
    "deactivate",
    "deploy",
    "manifest_of",
    "mark_unhealthy",
    "open_package",
    "register",
    "rollback",
    "sha256_file",
    "validate",
]
