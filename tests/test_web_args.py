"""The one time parser and the request-argument helpers (`app.api.args`), and the one input-error type
(`app.web.errors`): what they accept, what they refuse and with which status and words."""

import datetime as dt

import pytest
from flask import Flask

from app.api.args import int_arg, parse_integer, parse_time, time_arg, time_range
from app.models.actions import UploadError
from app.web.errors import InputError, api_error, status_of
from oceanwatch.audio.uploads import ClipError
from oceanwatch.registry.store import RegistryError
from oceanwatch.truth.classmap import ClassEditError

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T00:00:00Z", dt.datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T02:00:00+02:00", dt.datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00", dt.datetime(2026, 1, 1, tzinfo=UTC)),  # naive means UTC
        ("2026-01-01 00:00", dt.datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-31", dt.datetime(2026, 1, 31, tzinfo=UTC)),  # a bare date: its midnight, UTC
        ("2026-01-01T00:00:00.250Z", dt.datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_iso_8601_with_z_offsets_naive_as_utc_and_dates(raw: str, expected: dt.datetime) -> None:
    value = parse_time("start", raw)
    assert value == expected and value.tzinfo is not None


def test_parse_time_refuses_what_is_no_time_or_outside_1970_to_2100_naming_the_parameter() -> None:
    with pytest.raises(InputError, match=r"^start: an ISO 8601 time such as 2026-01-01T00:00:00Z$"):
        parse_time("start", "yesterday")
    with pytest.raises(InputError, match=r"^since: an ISO 8601 time such as 2026-01-31$"):
        parse_time("since", "31/01/2026", example="2026-01-31")
    for raw in ("1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "0001-01-01"):
        with pytest.raises(InputError, match=rf"^end: a time from 1970 to 2100, not '{raw}'$"):
            parse_time("end", raw)


def test_parse_integer_takes_ints_whole_numbers_and_text_within_bigint() -> None:
    assert parse_integer("n", 5) == parse_integer("n", "5") == parse_integer("n", 5.0) == 5
    for raw in (True, "5.5", 5.5, None, "x"):
        with pytest.raises(InputError, match=r"^n: an integer$"):
            parse_integer("n", raw)
    with pytest.raises(InputError, match="at most 19 digits"):
        parse_integer("n", 2**63)


def test_request_helpers_read_the_query_string() -> None:
    app = Flask(__name__)
    with app.test_request_context("/?start=2026-01-01T00:00:00Z&limit=&model_id=7"):
        assert time_arg("start") == dt.datetime(2026, 1, 1, tzinfo=UTC)
        assert time_arg("end") is None
        assert int_arg("limit") is None and int_arg("model_id") == 7
    with app.test_request_context("/?end=2026-01-01T01:00:00Z"):
        assert time_range() == (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, 1, tzinfo=UTC), 1000)
    with app.test_request_context("/?start=2026-01-02&end=2026-01-01"):
        with pytest.raises(InputError, match="^start is after end$"):
            time_range()
    with app.test_request_context("/?limit=0"):
        with pytest.raises(InputError, match="^limit: from 1 to 10000$"):
            time_range()


def test_one_input_error_type_carries_its_status_and_the_core_errors_are_mapped_once() -> None:
    assert isinstance(InputError("x"), ValueError) and InputError("x").status == 400
    assert InputError("gone", 404).status == 404
    assert [status_of(e) for e in (ClassEditError("a"), ClipError("b"), RegistryError("c"))] == [400, 400, 409]
    with Flask(__name__).app_context():
        response, status = api_error(UploadError(["bad manifest", "bad model"]))
        assert status == 400
        assert response.json == {"error": "validation failed", "problems": ["bad manifest", "bad model"]}
        response, status = api_error(RegistryError("model 3 is already active"))
        assert (response.json, status) == ({"error": "model 3 is already active"}, 409)
