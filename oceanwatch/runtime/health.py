"""Readiness checks of the two things every service depends on: Postgres and the broker."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Check:
    """Outcome of one dependency check."""

    name: str
    ok: bool
    detail: str
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timed(name: str, probe: Any) -> Check:
    start = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # a readiness check reports any failure rather than raising
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return Check(name, ok, detail, round((time.perf_counter() - start) * 1000, 1))


def check_database(engine: Engine) -> Check:
    """Connects (through the caller's pool) and asks the server its version and the schema revision."""

    def probe() -> str:
        with engine.connect() as conn:
            version = conn.execute(text("show server_version")).scalar_one()
            has_alembic = conn.execute(text("select to_regclass('alembic_version') is not null")).scalar_one()
            revision = conn.execute(text("select version_num from alembic_version")).scalar() if has_alembic else None
        return f"PostgreSQL {version}, schema {revision or 'not migrated'}"

    return _timed("database", probe)


def check_broker(bootstrap: str) -> Check:
    """Fetches cluster metadata (a real protocol round trip, not just a TCP connect)."""

    def probe() -> str:
        from oceanwatch.kafka import admin_client

        admin = admin_client(bootstrap, timeout_ms=3000)
        try:
            topics = sorted(t for t in admin.list_topics() if not t.startswith("__"))
        finally:
            admin.close()
        return f"{bootstrap}, topics: {', '.join(topics) or 'none'}"

    return _timed("broker", probe)
