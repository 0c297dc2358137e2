"""Model manifests: what a model package says about itself, validated before anything loads it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from oceanwatch.audio.features import FeatureSpec

TASKS = ("multi_class", "multi_label")
UNCERTAINTY_METHODS = ("none", "mc_dropout")
MAX_MC_PASSES = 100
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")


class ManifestError(ValueError):
    """A manifest that cannot be accepted; `problems` lists every reason, not just the first."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid manifest: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    task: str
    class_names: tuple[str, ...]
    feature_spec: FeatureSpec
    uncertainty_method: str = "none"
    mc_passes: int = 1
    description: str = ""
    owner: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passes(self) -> int:
        """Stochastic forward passes per prediction (1 without MC dropout)."""
        return self.mc_passes if self.uncertainty_method == "mc_dropout" else 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["class_names"] = list(self.class_names)
        data["feature_spec"] = self.feature_spec.to_dict()
        data["uncertainty"] = {"method": data.pop("uncertainty_method"), "passes": data.pop("mc_passes")}
        data.update(data.pop("extra"))
        return data


def parse_manifest(data: Any) -> Manifest:
    """Validate a manifest mapping; raises ManifestError naming every problem found."""
    if not isinstance(data, dict):
        raise ManifestError(["manifest must be a JSON object"])
    problems: list[str] = []
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append("name: lower-case letters, digits, '.', '_' or '-', at most 100 characters")
    version = data.get("version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not _VERSION.match(version):
        problems.append("version: a string such as '1.0.0' (letters, digits, '.', '+', '_', '-')")
    task = data.get("task")
    if task not in TASKS:
        problems.append(f"task: one of {', '.join(TASKS)}")
    classes = data.get("class_names")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and 0 < len(c) <= 16 for c in classes)
    ):
        problems.append("class_names: a list of at least two class codes (strings of 1-16 characters)")
    elif len(set(classes)) != len(classes):
        problems.append("class_names: duplicates")
    spec: FeatureSpec | None = None
    try:
        spec = FeatureSpec.from_dict(data.get("feature_spec") or {})
    except (TypeError, ValueError) as exc:
        problems.append(f"feature_spec: {exc}")
    uncertainty = data.get("uncertainty") or {"method": "none"}
    method = uncertainty.get("method", "none") if isinstance(uncertainty, dict) else None
    passes = uncertainty.get("passes", 1) if isinstance(uncertainty, dict) else None
    if method not in UNCERTAINTY_METHODS:
        problems.append(f"uncertainty.method: one of {', '.join(UNCERTAINTY_METHODS)}")
    if not isinstance(passes, int) or isinstance(passes, bool) or not 1 <= passes <= MAX_MC_PASSES:
        problems.append(f"uncertainty.passes: an integer from 1 to {MAX_MC_PASSES}")
    elif method == "mc_dropout" and passes < 2:
        problems.append("uncertainty.passes: MC dropout needs at least 2 passes")
    for text_field in ("description", "owner"):
        if not isinstance(data.get(text_field, ""), str):
            problems.append(f"{text_field}: a string")
    if problems:
        raise ManifestError(problems)
    known = {"name", "version", "task", "class_names", "feature_spec", "uncertainty", "description", "owner"}
    # no problem found: every field has the type checked above
    assert spec is not None and isinstance(passes, int) and isinstance(method, str)
    assert isinstance(name, str) and isinstance(version, str) and isinstance(task, str) and isinstance(classes, list)
    return Manifest(
        name=name,
        version=version,
        task=task,
        class_names=tuple(classes),
        feature_spec=spec,
        uncertainty_method=method,
        mc_passes=passes,
        description=data.get("description", ""),
        owner=data.get("owner", ""),
        extra={k: v for k, v in data.items() if k not in known},
    )
