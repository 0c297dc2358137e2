"""In-process counters: a service increments them, its heartbeat stores a snapshot, /metrics sums the snapshots.

Counters live in a registry of their own (not prometheus_client's global one), so what a heartbeat
publishes is exactly the platform's counters, and /metrics can add up every instance's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)
AIS_REJECTS = Counter("oceanwatch_ais_rejects", "AIS messages rejected, by reason.", ["reason"], registry=REGISTRY)

Snapshot = dict[str, dict[str, Any]]


def snapshot(registry: CollectorRegistry = REGISTRY) -> Snapshot:
    """The counters of a registry as JSON-able data: {family: {"help", "samples": [[labels, value]]}}."""
    out: Snapshot = {}
    for family in registry.collect():
        if family.type != "counter":
            continue
        samples = [[dict(s.labels), s.value] for s in family.samples if s.name.endswith("_total")]
        out[family.name] = {"help": family.documentation, "samples": samples}
    return out


def merge_snapshots(snapshots: Iterable[Snapshot]) -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    """Sum the same counter (same labels) across instances: {family: (help, {sorted label pairs: total})}."""
    merged: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {}
    for snap in snapshots:
        for name, family in (snap or {}).items():
            help_text, totals = merged.setdefault(name, (family.get("help", ""), {}))
            for labels, value in family.get("samples", []):
                key = tuple(sorted(labels.items()))
                totals[key] = totals.get(key, 0.0) + float(value)
    return merged
