"""Database access for services that run outside Flask (workers, scripts, tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from oceanwatch.db.models import Base

__all__ = ["Base", "engine_for", "session_scope"]


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One pooled engine per URL per process; `pool_pre_ping` survives a restarted Postgres."""
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, future=True)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = sessionmaker(engine_for(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
