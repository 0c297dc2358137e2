"""The decoder: broken input is counted by reason and skipped, never fatal; times and fields come out right."""

import datetime as dt
from dataclasses import fields

import pytest
from pyais import encode_dict

from ais_stream.decode import AisDecoder, PositionReport, StaticReport, parse_log_time, report_time
from ais_stream.service import position_message
from ais_stream.store import StoredPosition
from oceanwatch.messages import PositionMessage
from oceanwatch.runtime.counters import AIS_REJECTS
from tests.nmeakit import STATIC, T, nmea, position, tag


def sentence(body: str) -> str:
    """An AIS sentence with a correct checksum around `body` (e.g. "AIVDM,1,1,,A,<payload>,0")."""
    return nmea("!", body)


def tagged(line: str, when: int) -> str:
    return tag(receiver_timestamp=str(when)) + line


def test_a_good_sentence_decodes_with_its_fields() -> None:
    d = AisDecoder()
    [report] = d.feed(position(), T)
    assert report == PositionReport(366_123_456, T - 26.0, 36.71234, -122.12345, 12.3, 151.2, 151.0, 0, 1)
    assert d.accepted["position"] == 1 and not d.rejected


@pytest.mark.parametrize(
    "line, reason",
    [
        (position()[:-2] + "00", "bad_checksum"),
        (position().replace("15M", "15N", 1), "bad_checksum"),
        (position()[:30], "truncated"),
        (sentence("AIVDM,1,1,,A,15M:Ih0P1sG@uaDE0LS5,0"), "truncated"),
        (sentence("AIVDM,1,1,,A,,0"), "truncated"),
        ("this is not NMEA at all", "garbage"),
        ("\x00\x01\x02\xff binary noise", "garbage"),
        ("not a time !AIVDM,1,1,,A,15M,0*00", "garbage"),
        ("$GPGGA,123519,4807.038,N*00", "bad_checksum"),  # a valid one is ignored, not refused
        (sentence("AI?VDM,1,1,,A,15M,0"), "unsupported_sentence"),
        (sentence("AIVDM,1,1,,A,w5M:Ih0P1sG@uaDE0LS5r4g5P000,0"), "unknown_type"),
        (sentence("AIVDM,1,1,,A,05M:Ih0P1sG@uaDE0LS5r4g5P000,0"), "unknown_type"),
        (sentence("AIVDM,x,1,,A,15M:Ih0P1sG@uaDE0LS5r4g5P000,0"), "malformed"),
        (sentence("AIVDM,1,1,,A,15M:Ih0P1sG@uaDE0LS5r4g5P000,9"), "malformed"),
        (sentence("AIVDM,2,2,7,A,00000000000,2"), "orphan_fragment"),
        ("\\c:1767243600*00\\" + position(), "bad_checksum"),
        (tagged(position(), 1_767_243_600)[:20], "truncated"),
        (tagged(position(), 1_767_243_600)[:-3], "truncated"),
        (tagged(position(), 1_767_243_600)[:-1] + "0", "bad_checksum"),
        (position(mmsi=0), "invalid_mmsi"),
        (position(lat=91.0, lon=181.0), "no_position"),
    ],
)
def test_broken_lines_are_counted_by_reason_and_skipped(line: str, reason: str) -> None:
    d = AisDecoder()
    before = AIS_REJECTS.labels(reason)._value.get()
    assert d.feed(line, T) == []
    assert dict(d.rejected) == {reason: 1}
    assert AIS_REJECTS.labels(reason)._value.get() == before + 1, "the service's Prometheus counter moves too"
    [report] = d.feed(position(), T)  # and the next good line still decodes
    assert report.mmsi == 366_123_456


def test_valid_types_the_platform_does_not_store_are_ignored_not_rejected() -> None:
    d = AisDecoder()
    base_station = encode_dict(
        dict(msg_type=4, mmsi=3669999, year=2026, month=1, day=1, lon=-122.0, lat=36.0), sentence_type="VDM"
    )[0]
    assert d.feed(base_station, T) == []
    assert d.ignored == {"type_4": 1} and not d.rejected


def test_multipart_messages_are_assembled_and_lost_fragments_counted() -> None:
    first, second = encode_dict(STATIC, sentence_type="VDM", seq_id=4)
    d = AisDecoder(max_fragment_age_s=30.0)
    assert d.feed(first, T) == []
    [report] = d.feed(second, T + 0.1)
    assert report == StaticReport(
        366_000_001, T + 0.1, "OCEAN GRACE", "WXYZ1", 9_123_456, 70, 190.0, 26.0, 9.8, "OAKLAND"
    )
    # A first fragment superseded by another start, and one that never gets its second part.
    d.feed(first, T + 1)
    d.feed(first, T + 2)
    assert d.rejected["incomplete_multipart"] == 1
    d.feed(position(), T + 100)
    assert d.rejected["incomplete_multipart"] == 2 and d.pending_fragments == 0
    # Interleaved with a single-part sentence, on the same channel: still assembled.
    d.feed(first, T + 200)
    d.feed(position(), T + 200)
    assert len(d.feed(second, T + 200)) == 1


def test_report_time_comes_from_the_tag_block_then_a_log_prefix_then_arrival() -> None:
    d = AisDecoder()
    assert d.feed(tagged(position(), 1_767_000_000), T)[0].time == 1_767_000_000
    assert d.feed("1767000123.5 " + position(), T)[0].time == 1_767_000_123.5
    assert (
        d.feed("2026-01-01T00:00:00Z;" + position(), T)[0].time
        == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    )
    # Without either, the arrival time goes back to the report's own UTC second (34 here).
    assert d.feed(position(), T + 40.2)[0].time == T + 34
    assert d.feed(position(second=59), T + 0.5)[0].time == T - 1
    assert d.feed(position(second=60), T + 3.5)[0].time == T + 3.5  # 60 = "not available"


def test_time_helpers() -> None:
    assert parse_log_time("1767243600123") == pytest.approx(1_767_243_600.123)
    assert parse_log_time("2026-01-01 05:00:00") == T
    with pytest.raises(ValueError):
        parse_log_time("nan")
    assert report_time(T + 5.5, 5) == T + 5
    assert report_time(T + 5.5, 50) == T - 10
    assert report_time(T + 5.5, None) == T + 5.5


def test_not_available_values_become_none() -> None:
    [report] = AisDecoder().feed(position(speed=102.3, course=360.0, heading=511), T)
    assert (report.sog_knots, report.cog_deg, report.heading_deg) == (None, None, None)


def test_class_b_and_static_parts_a_and_b() -> None:
    d = AisDecoder()
    [pos] = d.feed(
        encode_dict(
            dict(msg_type=18, mmsi=338_000_001, speed=6.1, lon=-122.3, lat=36.8, course=45.0, heading=44, second=10),
            sentence_type="VDM",
        )[0],
        T,
    )
    assert (pos.msg_type, pos.nav_status, pos.sog_knots, pos.heading_deg) == (18, None, 6.1, 44.0)
    [a] = d.feed(
        encode_dict(dict(msg_type=24, partno=0, mmsi=338_000_001, shipname="SEA BREEZE"), sentence_type="VDM")[0], T
    )
    [b] = d.feed(
        encode_dict(
            dict(
                msg_type=24,
                partno=1,
                mmsi=338_000_001,
                ship_type=37,
                callsign="WDA1234",
                to_bow=8,
                to_stern=4,
                to_port=2,
                to_starboard=2,
            ),
            sentence_type="VDM",
        )[0],
        T,
    )
    assert (a.name, a.ship_type, a.length_m) == ("SEA BREEZE", None, None)
    assert (b.name, b.ship_type, b.call_sign, b.length_m, b.beam_m) == (None, 37, "WDA1234", 12.0, 4.0)


def test_json_records_from_an_api() -> None:
    d = AisDecoder()
    aishub = {
        "MMSI": 366_000_002,
        "TIME": "2026-01-01 05:00:00 GMT".replace(" GMT", ""),
        "LATITUDE": 36.9,
        "LONGITUDE": -122.4,
        "COG": 360,
        "SOG": 10.5,
        "HEADING": 511,
        "NAVSTAT": 0,
        "NAME": "PACIFIC DAWN",
        "CALLSIGN": "WAB1",
        "TYPE": 71,
        "A": 100,
        "B": 20,
        "C": 10,
        "D": 10,
        "DRAUGHT": 8.1,
        "DEST": "OAKLAND",
    }
    pos, static = d.feed_record(aishub, T + 99)
    assert pos == PositionReport(366_000_002, T, 36.9, -122.4, 10.5, None, None, 0, 1)
    assert (static.name, static.ship_type, static.length_m, static.beam_m, static.draught_m) == (
        "PACIFIC DAWN",
        71,
        120.0,
        20.0,
        8.1,
    )
    [from_nmea] = d.feed_record({"nmea": position()}, T)
    assert from_nmea.mmsi == 366_123_456
    assert d.feed_record({"mmsi": "abc", "lat": 1, "lon": 2}, T) == []
    assert d.feed_record({"mmsi": 0, "lat": 1, "lon": 2}, T) == []
    assert d.feed_record({"mmsi": 366_000_003, "lat": 95, "lon": 2}, T) == []
    assert d.feed_record({"mmsi": 366_000_003, "lat": "x", "lon": 2}, T) == []
    assert d.feed_record(["not", "an", "object"], T) == []
    assert d.feed_record({"mmsi": 366_000_003}, T) == []
    assert dict(d.rejected) == {"invalid_mmsi": 1, "invalid_position": 1, "bad_record": 3, "no_position": 1}


def test_fragments_from_different_receivers_do_not_mix() -> None:
    def static(mmsi: int, name: str) -> list[str]:
        return encode_dict(
            dict(msg_type=5, mmsi=mmsi, shipname=name, callsign="W1", ship_type=70), sentence_type="VDM", seq_id=3
        )

    def station(line: str, name: str) -> str:
        return tag(source_station=name, receiver_timestamp="1767243600") + line

    (a1, a2), (b1, b2) = static(366_000_001, "ALPHA"), static(366_000_002, "BRAVO")
    d = AisDecoder()
    reports = [
        r
        for line in (station(a1, "north"), station(b1, "south"), station(a2, "north"), station(b2, "south"))
        for r in d.feed(line, T)
    ]
    assert [(r.mmsi, r.name) for r in reports] == [(366_000_001, "ALPHA"), (366_000_002, "BRAVO")]
    assert not d.rejected


def test_a_position_message_carries_every_field_of_its_report() -> None:
    """No hand-written mapper: each report field reaches the topic message unchanged (time in ms)."""
    report = PositionReport(
        mmsi=366999001,
        time=1_780_000_000.25,
        latitude=36.7,
        longitude=-122.1,
        sog_knots=11.5,
        cog_deg=271.0,
        heading_deg=270.0,
        nav_status=0,
        msg_type=1,
    )
    message = PositionMessage.decode(position_message(StoredPosition(report, 70, {"MARS": 1234.5}), "tcp").encode())
    assert message.time_ms == 1_780_000_000_250
    assert {f.name: getattr(message, f.name) for f in fields(report) if f.name != "time"} == {
        f.name: getattr(report, f.name) for f in fields(report) if f.name != "time"
    }
    assert (message.source, message.ship_type, message.distances_m) == ("tcp", 70, {"MARS": 1234.5})
