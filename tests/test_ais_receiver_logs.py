"""Real receiver logs: USCG/NAIS suffixes, tag block groups, short type 1 payloads, GPS sentences, no times.

Every line is built as receivers write it (checksums computed, payloads from pyais's encoder)
and goes through the decoder's `feed`; the untimestamped log goes through FileSource, the
pipeline and the real Postgres.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

from pyais import encode_dict
from sqlalchemy import select

from ais_stream.decode import AisDecoder, LogAnchor, PositionReport, StaticReport, report_time
from ais_stream.service import AisPipeline, run
from ais_stream.sources import FileSource
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import AISPosition
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.nmea import NmeaSimulator
from oceanwatch.sim.scenario import Scenario
from oceanwatch.testing.waiting import wait_for
from tests.nmeakit import STATIC, T, nmea, tag
from tests.nmeakit import position as one_position


def position(mmsi: int = 366_123_456, **fields) -> str:
    """A type 1 sentence made at second 56, the second the receiver suffixes below carry."""
    return one_position(mmsi, **{"second": 56, **fields})


def feed_all(d: AisDecoder, lines: list[str], received_at: float) -> list:
    return [r for line in lines for r in d.feed(line, received_at)]


# -- 6: USCG / NAIS receiver metadata after the checksum -------------------------------------------


def test_uscg_lines_decode_with_the_receive_time_their_suffix_gives() -> None:
    d = AisDecoder()
    later = T + 7 * 86_400  # an archive replayed a week after it was recorded
    # The logger's UNIX time, last: the receive time.
    [r] = d.feed(position() + ",d-080,S2118,t050056.00,T56.48377,r003669945,1767243656", later)
    assert r == PositionReport(366_123_456, T + 56, 36.71234, -122.12345, 12.3, 151.2, 151.0, 0, 1)
    # A station with dashes (NAIS), then the UNIX time.
    [r] = d.feed(position() + ",s28234,d-107,T56.48377,D07MN-MI-FREBS1,1767243657", later)
    assert r.time == T + 57
    # No UNIX time: the receiver's hhmmss on the day the log's own timestamp gives ...
    [r] = d.feed("2025-12-31T23:59:58Z " + position(second=1) + ",d-080,S0001,t000001.50,T1.5,rMyStation", later)
    assert r.time == T - 5 * 3600 + 1.5  # just after midnight: the next day, not the log line's
    # ... or, without one, on the arrival day; a "time" before 2000 is a counter, not a time.
    [r] = d.feed(position() + ",d-080,t050056.00,T56.48377,r003669945,12345", T + 120)
    assert r.time == T + 56
    assert not d.rejected and d.accepted["position"] == 4


def test_uscg_multipart_messages_assemble_per_station_and_broken_ones_are_still_refused() -> None:
    first, second = encode_dict(STATIC, sentence_type="VDM", seq_id=5)
    other = encode_dict(dict(STATIC, mmsi=366_000_002, shipname="OTHER"), sentence_type="VDM", seq_id=5)
    meta = ",d-084,S1652,t161344.00,T44.05687473,{},1767283224"
    d = AisDecoder()
    lines = [
        first + meta.format("r003669945"),
        other[0] + meta.format("r003669946"),
        second + meta.format("r003669945"),
        other[1] + meta.format("r003669946"),
    ]
    reports = feed_all(d, lines, T)
    assert [(r.mmsi, r.name, r.time) for r in reports] == [
        (366_000_001, "OCEAN GRACE", 1_767_283_224.0),
        (366_000_002, "OTHER", 1_767_283_224.0),
    ]
    assert not d.rejected
    suffix = ",d-080,S2118,t050056.00,T56.48377,r003669945,1767243656"
    assert d.feed(position()[:-2] + "00" + suffix, T) == []
    assert d.feed(position()[:40] + suffix, T) == []
    assert dict(d.rejected) == {"bad_checksum": 1, "truncated": 1}


# -- 7: NMEA 4.10 tag block groups ------------------------------------------------------------------


def test_tag_block_groups_assemble_with_station_and_time_from_the_first_fragment() -> None:
    a1, a2 = encode_dict(STATIC, sentence_type="VDM", seq_id=1)
    b1, b2 = encode_dict(dict(STATIC, mmsi=366_000_002, shipname="OTHER"), sentence_type="VDM", seq_id=1)
    d = AisDecoder()
    lines = [
        tag(group="1-2-0042", source_station="r003669945", receiver_timestamp="1767243600") + a1,
        tag(group="1-2-0043", source_station="r003669946", receiver_timestamp="1767243601") + b1,
        tag(group="2-2-0042") + a2,
        tag(group="2-2-0043") + b2,
    ]
    reports = feed_all(d, lines, T + 99)
    assert reports == [
        StaticReport(366_000_001, T, "OCEAN GRACE", "WXYZ1", 9_123_456, 70, 190.0, 26.0, 9.8, "OAKLAND"),
        StaticReport(366_000_002, T + 1, "OTHER", "WXYZ1", 9_123_456, 70, 190.0, 26.0, 9.8, "OAKLAND"),
    ]
    assert not d.rejected and d.pending_fragments == 0
    # A group's second fragment without its first is still an orphan.
    assert d.feed(tag(group="2-2-0044") + a2, T) == []
    assert dict(d.rejected) == {"orphan_fragment": 1}


# -- 8: type 1 reports without their spare and radio bits --------------------------------------------


def test_a_type_1_report_of_163_bits_holds_every_stored_field_and_decodes() -> None:
    fields = position().split(",")  # !AIVDM,1,1,,A,<28 characters = 168 bits>,0*hh
    short = nmea("!", ",".join(["AIVDM", *fields[1:5], fields[5], "5"]))  # the same 28 characters, 5 fill bits
    d = AisDecoder()
    [r] = d.feed(short, T + 60)
    assert r == PositionReport(366_123_456, T + 56, 36.71234, -122.12345, 12.3, 151.2, 151.0, 0, 1)
    # Cut before the UTC second is still truncated.
    assert d.feed(nmea("!", ",".join(["AIVDM", *fields[1:5], fields[5][:23], "0"])), T) == []  # 138 bits
    assert dict(d.rejected) == {"truncated": 1}


# -- 9: other NMEA sentences in a receiver log -------------------------------------------------------


def test_gps_and_other_nmea_sentences_are_ignored_not_rejected() -> None:
    rmc = nmea("$", "GPRMC,050056.00,A,3642.7404,N,12207.4070,W,0.0,0.0,010126,,,A")
    gga = nmea("$", "GPGGA,050056.00,3642.7404,N,12207.4070,W,1,08,1.0,12.0,M,-32.0,M,,")
    d = AisDecoder()
    assert (
        feed_all(
            d,
            [rmc, gga, "1767243656.0 " + rmc, rmc + ",r003669945,1767243656", nmea("$", "PGRME,15.0,M,45.0,M,25.0,M")],
            T,
        )
        == []
    )
    assert not d.rejected
    assert d.ignored == Counter(nmea_GPRMC=3, nmea_GPGGA=1, nmea_PGRME=1)
    assert d.feed(rmc[:-2] + "00", T) == [] and dict(d.rejected) == {"bad_checksum": 1}


# -- 10: logs without times ---------------------------------------------------------------------------


def test_a_log_clock_keeps_distinct_reports_and_dates_the_same_log_the_same() -> None:
    # One vessel every 10 s for two minutes, then the same vessel moored (the same second every minute).
    lines = [position(second=s % 60, lat=36.7 + s / 1e4) for s in range(4, 124, 10)]
    lines += [position(second=30, speed=0.0, lat=36.8), position(second=30, speed=0.0, lat=36.8001)]
    passes = []
    for _ in range(2):
        d = AisDecoder()
        passes.append([r.time for r in feed_all(d, lines, LogAnchor(T + 0.7))])  # read in no time at all
    times = passes[0]
    assert passes[0] == passes[1], "a second pass dates every report the same"
    assert len(set(times)) == len(lines) == 14, "distinct reports of one vessel within a minute stay distinct"
    assert [b - a for a, b in zip(times[:12], times[1:12])] == [10.0] * 11
    assert times[12] % 60 == 30 and times[13] == times[12] + 60
    # The same transmission heard twice (two receivers merged into one log) keeps its time: stored once.
    d = AisDecoder()
    assert [r.time for r in feed_all(d, [lines[0], lines[1], lines[0], lines[1]], LogAnchor(T))] == [T + 4, T + 14] * 2


def test_lines_a_followed_log_gains_are_dated_by_arrival_not_by_its_clock(tmp_path) -> None:
    """The backlog of a followed log is dated by the log's clock; what is appended later arrives live."""
    path = tmp_path / "live.nmea"
    path.write_text(position(second=4) + "\n")
    os.utime(path, (T, T))
    stop, items = StopFlag(), []
    reader = threading.Thread(
        target=lambda: items.extend(FileSource(path, stop, follow=True, poll_s=0.05)), daemon=True
    )
    reader.start()
    assert wait_for(lambda: len(items) == 1, 10, poll_s=0.02)
    time.sleep(1.0)  # the reader reaches the end of the backlog
    with path.open("a") as out:
        out.write(position(second=40) + "\n")
    assert wait_for(lambda: len(items) == 2, 10, poll_s=0.02)
    stop.set()
    reader.join(5)
    (backlog, anchor), (live, arrived) = items
    assert isinstance(anchor, LogAnchor) and anchor == T
    assert not isinstance(arrived, LogAnchor) and abs(arrived - time.time()) < 60
    d = AisDecoder()
    [old] = d.feed(backlog, anchor)
    [new] = d.feed(live, arrived)
    assert old.time == T + 4, "the backlog keeps the log's clock"
    assert new.time == report_time(arrived, 40), "a live line is dated by its arrival and its own second"


def untimestamped_log(path: Path) -> list:
    """Ten minutes of the busy scenario (41 vessels) as a receiver without timestamps logs it."""
    sc = Scenario(seed=21, vessels_per_hour=10)
    t0 = sc.start + 6 * 3600
    lines = [re.sub(r"^\\[^\\]*\\", "", line) for _, line in NmeaSimulator(sc).sentences(t0, t0 + 600)]
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, (t0 + 600, t0 + 600))
    return [e for e in NmeaSimulator(sc).events(t0, t0 + 600) if e.msg_type in (1, 2, 3, 18)]


def test_replaying_an_untimestamped_log_stores_every_report_once(settings, tmp_path) -> None:
    with session_scope(settings.database_url) as session:
        ensure_default_hydrophone(session, settings)
    expected = untimestamped_log(tmp_path / "receiver.nmea")
    engine = engine_for(settings.database_url)
    first = AisPipeline(engine, None, "file")
    run(first, FileSource(tmp_path / "receiver.nmea", StopFlag()), StopFlag(), batch_size=500, batch_wait_s=0.05)
    assert not first.decoder.rejected
    with session_scope(settings.database_url) as session:
        stored = session.execute(select(AISPosition.mmsi, AISPosition.time)).all()
    assert len(stored) == first.totals["stored"] == len(expected), "no two reports of a vessel merged"
    # The log's own timeline survives: every report is one and the same offset from its true time.
    true_times: dict[int, list[float]] = {}
    for e in expected:
        true_times.setdefault(e.mmsi, []).append(e.time)
    offsets = {
        t - u
        for mmsi, truth in true_times.items()
        for t, u in zip(sorted(t.timestamp() for m, t in stored if m == mmsi), sorted(truth))
    }
    assert len(offsets) == 1 and abs(offsets.pop()) <= 630  # anchored at the file's time (its end, here)
    restarted = AisPipeline(engine, None, "file")
    run(restarted, FileSource(tmp_path / "receiver.nmea", StopFlag()), StopFlag(), batch_size=300, batch_wait_s=0.05)
    assert restarted.totals["reports"] == first.totals["reports"] and restarted.totals["stored"] == 0
    with session_scope(settings.database_url) as session:
        assert len(session.execute(select(AISPosition.id)).all()) == len(expected)
