"""Loading registered models: one verified way, and one cache for every process that keeps them loaded.

A model is only ever loaded from its registered artifact after the file's checksum matches the
registry's (a replaced or damaged file is refused, never served), and a loaded model is keyed by
(id, checksum), so a re-registered artifact is never answered from a stale copy.  The predict
stream keeps its active models in a `ModelCache`; the web app's classifier keeps the last few.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from oceanwatch.checksums import sha256_file
from oceanwatch.inference.runtime import LoadedModel
from oceanwatch.registry.manifest import parse_manifest


class RegisteredArtifact(Protocol):
    """What loading needs of a `models` row (the ORM row or a selected subset of its columns)."""

    id: int
    manifest: dict[str, Any]
    artifact_path: str
    sha256: str


class ArtifactMismatch(ValueError):
    """The artifact file is missing or is not the one the registry recorded."""


def load_verified(row: RegisteredArtifact) -> LoadedModel:
    """The model `row` registered, loaded from its artifact once the checksum matches."""
    path = Path(row.artifact_path)
    if not path.is_file() or sha256_file(path) != row.sha256:
        raise ArtifactMismatch(f"model {row.id}: artifact missing or its checksum does not match the registry")
    return LoadedModel.from_artifact(row.id, parse_manifest(row.manifest), path)


class ModelCache:
    """Loaded models keyed by (model id, artifact checksum); beyond `size` the least recently used goes.

    Loading is serialised by one lock, so two callers asking for the same new model load it once.
    `size` None keeps every model asked for until `retain` lets it go.
    """

    def __init__(self, size: int | None = 8) -> None:
        self.size = size
        self._models: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, row: RegisteredArtifact) -> LoadedModel:
        key = (row.id, row.sha256)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = load_verified(row)
            self._models[key] = loaded
            while self.size is not None and len(self._models) > self.size:
                self._models.popitem(last=False)
            return loaded

    def retain(self, model_ids: Iterable[int]) -> list[int]:
        """Drop every loaded model not in `model_ids`; returns the ids dropped."""
        keep = set(model_ids)
        gone = sorted({model_id for model_id, _ in self._models} - keep)
        for model_id in gone:
            self.discard(model_id)
        return gone

    def discard(self, model_id: int) -> None:
        """Drop every loaded copy of one model."""
        with self._lock:
            for key in [key for key in self._models if key[0] == model_id]:
                del self._models[key]

    def __contains__(self, key: tuple[int, str]) -> bool:
        return key in self._models
