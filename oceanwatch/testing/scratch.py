"""Throwaway databases on a Postgres server, for tests and benchmarks that must not touch real data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from sqlalchemy.engine import make_url

from oceanwatch.db import engine_for


def _admin_connect(url: str) -> psycopg2.extensions.connection:
    """Autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE need one)."""
    parsed = make_url(url)
    conn = psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password, dbname="postgres"
    )
    conn.autocommit = True
    return conn


def create_database(server_url: str, name: str) -> str:
    """Create an empty database on the server of `server_url`; returns its URL."""
    conn = _admin_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'create database "{name}"')
    finally:
        conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    """Drop it, closing this process's pooled connections and forcing others off."""
    engine_for.cache_clear()
    conn = _admin_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        conn.close()


@contextmanager
def scratch_database(server_url: str, prefix: str, migrate: bool = True) -> Iterator[str]:
    """A uniquely named database (migrated to head unless told not to), dropped afterwards."""
    from oceanwatch.db.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        drop_database(server_url, name)
