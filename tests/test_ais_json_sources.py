"""JSON sources into the real Postgres: an HTTP API's records, and aisstream.io's WebSocket stream.

The servers are real local ones (http.server, websockets' own server) answering with messages
shaped like the real services'; the records go through the service's pipeline and store.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from ais_stream.decode import AISSTREAM_KINDS, AisDecoder
from ais_stream.service import AisPipeline, open_source, run
from ais_stream.sources import AisStreamSource, HttpSource
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import AISPosition, Vessel
from oceanwatch.geo import GEOD
from oceanwatch.runtime.service import StopFlag
from oceanwatch.testing.waiting import wait_for
from tests.aisapikit import AisApi

UTC = dt.timezone.utc


def stored_positions(url: str) -> list[AISPosition]:
    with session_scope(url) as session:
        rows = session.scalars(select(AISPosition)).all()
        session.expunge_all()
    return list(rows)


def start_pipeline(settings: Settings, source, name: str) -> tuple[AisPipeline, StopFlag, threading.Thread]:
    pipeline = AisPipeline(engine_for(settings.database_url), None, name)
    stop = source.stop
    thread = threading.Thread(target=run, args=(pipeline, source, stop), kwargs={"batch_wait_s": 0.05}, daemon=True)
    thread.start()
    return pipeline, stop, thread


# -- HTTP records whose `timestamp` is AIS's UTC second (issue 13, item 11) ---------------------------
# (the local API is tests/aisapikit's `AisApi`: it answers its queued answers, then empty lists)


def test_an_ais_second_is_not_a_time_and_implausible_times_are_refused(settings, api) -> None:
    polled = time.time()
    recent = dt.datetime.fromtimestamp(polled - 120, UTC).replace(microsecond=0)
    records = [
        # the AIS fields as an API mirrors them: `timestamp` is the report's UTC second
        {"mmsi": 366000011, "latitude": 36.70, "longitude": -122.20, "sog": 10.1, "timestamp": 37},
        {"mmsi": 366000012, "latitude": 36.71, "longitude": -122.21, "timestamp": "60"},  # 60 = not available
        {"mmsi": 366000013, "latitude": 36.72, "longitude": -122.22, "timestamp": recent.isoformat()},
        {"mmsi": 366000014, "latitude": 36.73, "longitude": -122.23, "timestamp": "1995-06-01T00:00:00Z"},
        {"mmsi": 366000015, "latitude": 36.74, "longitude": -122.24, "time": polled + 86400},
    ]
    AisApi.answers = [(200, {}, records)]
    pipeline, stop, thread = start_pipeline(settings, HttpSource(api, StopFlag(), interval_s=0.05), "http")
    try:
        assert wait_for(lambda: pipeline.totals["items"] >= 5 and pipeline.totals["stored"] >= 3, 30, poll_s=0.05), (
            "the records"
        )
    finally:
        stop.set()
        thread.join(10)
    arrived = time.time()
    rows = {p.mmsi: p for p in stored_positions(settings.database_url)}
    assert set(rows) == {366000011, 366000012, 366000013}
    second = rows[366000011].time
    assert second.second == 37 and second.microsecond == 0
    assert polled - 61 <= second.timestamp() <= arrived + 1  # arrival moved back to its second, not 1970
    assert polled - 1 <= rows[366000012].time.timestamp() <= arrived + 1  # no second: arrival time
    assert rows[366000013].time == recent
    assert dict(pipeline.decoder.rejected) == {"implausible_time": 2}


def test_record_times_in_go_text_and_plausibility_bounds() -> None:
    d, now = AisDecoder(), 1_759_391_300.0  # 2025-10-02 07:48:20 UTC
    [p] = d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time_utc": "2025-10-02 07:47:59.162413401 +0000 UTC"}, now)
    assert p.time == pytest.approx(dt.datetime(2025, 10, 2, 7, 47, 59, 162413, UTC).timestamp(), abs=1e-6)
    for go_text, fraction in (("07:48:00.031", 31000), ("07:48:00", 0), ("07:48:00.9", 900000)):
        [q] = d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time_utc": f"2025-10-02 {go_text} +0000 UTC"}, now)
        assert q.time == dt.datetime(2025, 10, 2, 7, 48, 0, fraction, UTC).timestamp()
    [z] = d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time_utc": "2025-10-02 00:48:00 -0700 PDT"}, now)
    assert z.time == dt.datetime(2025, 10, 2, 7, 48, 0, tzinfo=UTC).timestamp()
    assert len(d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time": now + 299}, now)) == 1  # clock skew
    assert d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time": now + 301}, now) == []
    assert d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time": "1999-12-31T23:59:59Z"}, now) == []
    assert d.feed_record({"mmsi": 1, "lat": 1, "lon": 2, "time": "yesterday"}, now) == []
    assert dict(d.rejected) == {"implausible_time": 2, "bad_record": 1}


# -- aisstream.io's WebSocket stream (issue 13, item 12) -------------------------------------------------

KEY = "test-key-0123"
BOXES = [[[36.2, -122.8], [37.2, -121.6]]]


def _meta(mmsi: int, name: str, lat: float, lon: float, when: str) -> dict[str, object]:
    return {
        "MMSI": mmsi,
        "MMSI_String": mmsi,
        "ShipName": name,
        "latitude": lat,
        "longitude": lon,
        "time_utc": f"2025-10-02 {when} +0000 UTC",
    }


def _position(mmsi: int, lat: float, lon: float, when: str, second: int, **fields: object) -> str:
    body = {
        "Cog": 151.2,
        "CommunicationState": 59916,
        "Latitude": lat,
        "Longitude": lon,
        "MessageID": 1,
        "NavigationalStatus": 0,
        "PositionAccuracy": True,
        "Raim": False,
        "RateOfTurn": 0,
        "RepeatIndicator": 0,
        "Sog": 12.3,
        "Spare": 0,
        "SpecialManoeuvreIndicator": 0,
        "Timestamp": second,
        "TrueHeading": 150,
        "UserID": mmsi,
        "Valid": True,
    }
    body.update(fields)
    return json.dumps(
        {
            "Message": {"PositionReport": body},
            "MessageType": "PositionReport",
            "MetaData": _meta(mmsi, "PACIFIC DAWN        ", lat, lon, when),
        }
    )


CLASS_B = json.dumps(
    {
        "Message": {
            "StandardClassBPositionReport": {
                "AssignedMode": False,
                "ClassBBand": True,
                "ClassBDisplay": False,
                "ClassBDsc": True,
                "ClassBMsg22": True,
                "ClassBUnit": True,
                "Cog": 360,
                "CommunicationState": 393222,
                "CommunicationStateIsItdma": True,
                "Latitude": 36.61,
                "Longitude": -121.89,
                "MessageID": 18,
                "PositionAccuracy": False,
                "Raim": True,
                "RepeatIndicator": 0,
                "Sog": 0.1,
                "Spare1": 0,
                "Spare2": 0,
                "Timestamp": 58,
                "TrueHeading": 511,
                "UserID": 367000222,
                "Valid": True,
            }
        },
        "MessageType": "StandardClassBPositionReport",
        "MetaData": _meta(367000222, "SEA BREEZE", 36.61, -121.89, "07:47:59.512000000"),
    }
)
STATIC = json.dumps(
    {
        "Message": {
            "ShipStaticData": {
                "AisVersion": 2,
                "CallSign": "WDA1234",
                "Destination": "OAKLAND@@@@@@@@@@@@@",
                "Dimension": {"A": 150, "B": 30, "C": 14, "D": 14},
                "Dte": False,
                "Eta": {"Day": 3, "Hour": 6, "Minute": 0, "Month": 10},
                "FixType": 1,
                "ImoNumber": 9321483,
                "MaximumStaticDraught": 9.1,
                "MessageID": 5,
                "Name": "PACIFIC DAWN        ",
                "RepeatIndicator": 0,
                "Spare": False,
                "Type": 71,
                "UserID": 366000101,
                "Valid": True,
            }
        },
        "MessageType": "ShipStaticData",
        "MetaData": _meta(366000101, "PACIFIC DAWN", 36.8, -122.1, "07:48:00.031"),
    }
)
BASE_STATION = json.dumps(
    {
        "Message": {
            "BaseStationReport": {
                "CommunicationState": 81942,
                "FixType": 7,
                "Latitude": 36.6,
                "Longitude": -121.9,
                "LongRangeEnable": False,
                "MessageID": 4,
                "PositionAccuracy": False,
                "Raim": False,
                "RepeatIndicator": 0,
                "Spare": 0,
                "UserID": 3669987,
                "UtcDay": 2,
                "UtcHour": 7,
                "UtcMinute": 48,
                "UtcMonth": 10,
                "UtcSecond": 0,
                "UtcYear": 2025,
                "Valid": True,
            }
        },
        "MessageType": "BaseStationReport",
        "MetaData": _meta(3669987, "", 36.6, -121.9, "07:48:00.120"),
    }
)
MALFORMED = '{"Message": {"PositionReport": {"UserID": 366000103, "Latitude": 36.7'  # cut off mid-message
ERROR = json.dumps({"error": "Api Key Is Not Valid"})

FIRST = [_position(366000101, 36.80, -122.10, "07:47:59.162413401", 59), CLASS_B, STATIC, BASE_STATION, MALFORMED]
AFTER_RESTART = [
    _position(366000102, 36.75, -122.30, "07:48:02.900000001", 2, TrueHeading=511, Sog=102.3),
    _position(366000101, 36.81, -122.09, "07:48:09.5", 9),
]


class AisStreamStandIn:
    """A local aisstream.io: reads each connection's subscription, then replays the next script."""

    def __init__(self, scripts: list[list[str]]) -> None:
        self.scripts = scripts
        self.subscriptions: list[object] = []
        self.server: Server | None = None

    def handle(self, ws: ServerConnection) -> None:
        self.subscriptions.append(json.loads(ws.recv(timeout=3)))  # aisstream.io waits 3 s for it
        for frame in self.scripts.pop(0) if self.scripts else []:
            ws.send(frame)
        try:
            ws.recv()  # keep the connection until the client or a shutdown closes it
        except ConnectionClosed:
            pass

    def start(self, port: int = 0) -> int:
        self.server = serve(self.handle, "127.0.0.1", port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server.socket.getsockname()[1]

    def kill(self) -> None:
        if self.server is not None:
            self.server.shutdown()


def test_aisstream_messages_reach_postgres_through_errors_and_a_server_restart(settings) -> None:
    stand_in = AisStreamStandIn([[ERROR], FIRST])
    port = stand_in.start()
    configured = settings.updated(
        ais={
            "source": "aisstream",
            "aisstream_url": f"ws://127.0.0.1:{port}/v0/stream",
            "aisstream_api_key": KEY,
            "aisstream_bboxes": BOXES,
            "reconnect_max_s": 1.0,
        }
    )
    source = open_source(configured, StopFlag())
    assert isinstance(source, AisStreamSource)
    replacement = AisStreamStandIn([AFTER_RESTART])
    pipeline, stop, thread = start_pipeline(settings, source, "aisstream")
    try:
        assert wait_for(lambda: pipeline.totals["items"] >= len(FIRST), 30, poll_s=0.05), (
            "the first connection's messages"
        )
        stand_in.kill()  # mid-stream: the client's connection drops, then reconnects are refused
        time.sleep(1.5)
        replacement.start(port)
        assert wait_for(lambda: pipeline.totals["items"] >= len(FIRST) + len(AFTER_RESTART), 30, poll_s=0.05), (
            "the restarted server"
        )
    finally:
        stop.set()
        thread.join(10)
        for server in (stand_in, replacement):
            server.kill()
    assert not thread.is_alive()
    subscription = {"APIKey": KEY, "BoundingBoxes": BOXES, "FilterMessageTypes": sorted(AISSTREAM_KINDS)}
    assert stand_in.subscriptions == [subscription, subscription]  # once after the error, once per connection
    assert replacement.subscriptions == [subscription]
    assert (source.connections, source.errors) == (3, 1)

    rows = {(p.mmsi, p.time): p for p in stored_positions(settings.database_url)}
    assert sorted(rows) == sorted(
        [
            (366000101, dt.datetime(2025, 10, 2, 7, 47, 59, 162413, UTC)),
            (366000101, dt.datetime(2025, 10, 2, 7, 48, 9, 500000, UTC)),
            (366000102, dt.datetime(2025, 10, 2, 7, 48, 2, 900000, UTC)),
            (367000222, dt.datetime(2025, 10, 2, 7, 47, 59, 512000, UTC)),
        ]
    )
    first = rows[(366000101, dt.datetime(2025, 10, 2, 7, 47, 59, 162413, UTC))]
    assert (
        first.latitude,
        first.longitude,
        first.sog_knots,
        first.cog_deg,
        first.heading_deg,
        first.nav_status,
        first.msg_type,
        first.source,
    ) == (36.80, -122.10, 12.3, 151.2, 150.0, 0, 1, "aisstream")
    unavailable = rows[(366000102, dt.datetime(2025, 10, 2, 7, 48, 2, 900000, UTC))]
    assert (unavailable.sog_knots, unavailable.heading_deg) == (None, None)
    class_b = rows[(367000222, dt.datetime(2025, 10, 2, 7, 47, 59, 512000, UTC))]
    assert (class_b.msg_type, class_b.sog_knots, class_b.cog_deg, class_b.heading_deg) == (18, 0.1, None, None)
    with session_scope(settings.database_url) as session:
        vessel = session.get(Vessel, 366000101)
        assert (
            vessel.name,
            vessel.call_sign,
            vessel.imo,
            vessel.ship_type,
            vessel.length_m,
            vessel.beam_m,
            vessel.draught_m,
            vessel.destination,
        ) == ("PACIFIC DAWN", "WDA1234", 9321483, 71, 180.0, 28.0, 9.1, "OAKLAND")
    assert dict(pipeline.decoder.rejected) == {"bad_record": 1}  # the cut-off message
    assert dict(pipeline.decoder.ignored) == {"type_4": 1}  # the base station
    assert dict(pipeline.decoder.accepted) == {"position": 4, "static": 1}


def test_aisstream_static_parts_extended_class_b_and_configuration(settings) -> None:
    d, now = AisDecoder(), 1_759_391_300.0
    meta = _meta(338000001, "X", 36.7, -122.2, "07:48:00")
    part_a = {
        "MessageID": 24,
        "UserID": 338000001,
        "PartNumber": False,
        "Valid": True,
        "ReportA": {"Valid": True, "Name": "SEA BREEZE@@@@"},
        "ReportB": {"Valid": False, "ShipType": 0, "CallSign": "", "Dimension": {"A": 0, "B": 0, "C": 0, "D": 0}},
    }
    part_b = dict(
        part_a,
        PartNumber=True,
        ReportA={"Valid": False, "Name": ""},
        ReportB={"Valid": True, "ShipType": 37, "CallSign": "WDB5678", "Dimension": {"A": 8, "B": 4, "C": 2, "D": 2}},
    )
    extended = {
        "MessageID": 19,
        "UserID": 338000002,
        "Latitude": 36.6,
        "Longitude": -122.0,
        "Sog": 5.5,
        "Cog": 90.0,
        "TrueHeading": 91,
        "Timestamp": 0,
        "Name": "NIGHT OWL",
        "Type": 36,
        "Dimension": {"A": 10, "B": 5, "C": 3, "D": 2},
        "Valid": True,
    }
    [a] = d.feed_record(
        {"MessageType": "StaticDataReport", "MetaData": meta, "Message": {"StaticDataReport": part_a}}, now
    )
    [b] = d.feed_record(
        {"MessageType": "StaticDataReport", "MetaData": meta, "Message": {"StaticDataReport": part_b}}, now
    )
    assert (a.name, a.ship_type, a.call_sign, a.length_m) == ("SEA BREEZE", None, None, None)
    assert (b.name, b.ship_type, b.call_sign, b.length_m, b.beam_m) == (None, 37, "WDB5678", 12.0, 4.0)
    position, static = d.feed_record(
        {
            "MessageType": "ExtendedClassBPositionReport",
            "MetaData": meta,
            "Message": {"ExtendedClassBPositionReport": extended},
        },
        now,
    )
    assert (position.mmsi, position.msg_type, position.heading_deg) == (338000002, 19, 91.0)
    assert (static.name, static.ship_type, static.length_m) == ("NIGHT OWL", 36, 15.0)
    assert (
        d.feed_record(
            {
                "MessageType": "DataLinkManagementMessage",
                "MetaData": meta,
                "Message": {"DataLinkManagementMessage": {"MessageID": 20, "UserID": 3669987}},
            },
            now,
        )
        == []
    )
    assert d.feed_record({"MessageType": "PositionReport", "MetaData": meta, "Message": {}}, now) == []
    assert (dict(d.ignored), dict(d.rejected)) == ({"type_20": 1}, {"bad_record": 1})

    stop = StopFlag()
    around = open_source(settings.updated(ais={"source": "aisstream", "aisstream_api_key": "k"}), stop)
    assert around.url == "wss://stream.aisstream.io/v0/stream"
    [[(south, west), (north, east)]] = around.subscription["BoundingBoxes"]
    assert south < settings.hydrophone.lat < north and west < settings.hydrophone.lon < east
    reach_m = (max(settings.truth.radii_km) + settings.truth.buffer_km) * 1000.0  # 50 km by default
    for lat, lon in (
        (north, settings.hydrophone.lon),
        (south, settings.hydrophone.lon),
        (settings.hydrophone.lat, east),
        (settings.hydrophone.lat, west),
    ):
        _, _, edge_m = GEOD.inv(settings.hydrophone.lon, settings.hydrophone.lat, lon, lat)
        assert edge_m == pytest.approx(reach_m, abs=5.0)  # a geodesic due east bends a little south
    typed = open_source(
        settings.updated(
            ais={"source": "aisstream", "aisstream_api_key": "k", "aisstream_message_types": "PositionReport"}
        ),
        stop,
    )
    assert typed.subscription["FilterMessageTypes"] == ["PositionReport"]
    for bad in ({"aisstream_api_key": ""}, {"aisstream_api_key": "k", "aisstream_bboxes": [[[95, 0], [0, 0]]]}):
        with pytest.raises(ValueError):
            open_source(settings.updated(ais={"source": "aisstream", **bad}), stop)
