"""The shared time-range clause, run by Postgres: consecutive ranges split the rows with none lost or doubled."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from oceanwatch.db import engine_for
from oceanwatch.db.clauses import time_range

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def kept(url: str, start: dt.datetime | None, end: dt.datetime | None) -> list[int]:
    """Hours (0-5) of six hourly rows that the clause keeps."""
    clauses, params = time_range("t", start, end)
    with engine_for(url).connect() as conn:
        return list(
            conn.scalars(
                text(
                    "select extract(hour from t at time zone 'utc')::int from generate_series("
                    "cast(:t0 as timestamptz), cast(:t0 as timestamptz) + interval '5 hours', interval '1 hour') t"
                    f" where {' and '.join(clauses) or 'true'} order by t"
                ),
                params | {"t0": T0},
            )
        )


@pytest.mark.integration
def test_a_range_is_half_open_and_consecutive_ranges_partition_the_rows(empty_database: str) -> None:
    at = [T0 + dt.timedelta(hours=h) for h in range(7)]
    assert kept(empty_database, at[1], at[3]) == [1, 2], "start kept, end excluded"
    assert kept(empty_database, None, at[2]) == [0, 1] and kept(empty_database, at[4], None) == [4, 5]
    assert kept(empty_database, None, None) == [0, 1, 2, 3, 4, 5]
    pieces = [kept(empty_database, a, b) for a, b in zip(at, at[1:])]
    assert sum(pieces, []) == [0, 1, 2, 3, 4, 5]


def test_its_parameters_do_not_collide_with_the_callers() -> None:
    clauses, params = time_range("w.start_time", T0, T0)
    assert clauses == ["w.start_time >= :range_start", "w.start_time < :range_end"]
    assert set(params) == {"range_start", "range_end"}
