"""AIS sources on real loopback sockets, real files and a real local HTTP server."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from ais_stream.sources import (
    Backoff,
    FileSource,
    HttpSource,
    TcpSource,
    UdpSource,
    json_records,
    rate_limit_wait_s,
    retry_after_s,
    split_lines,
)
from oceanwatch.runtime.service import StopFlag
from tests.aisapikit import AisApi

LINES = [b"!AIVDM,1,1,,A,15M:Ih0P1sG@uaDE0LS5r4g5P000,0*2A", b"!AIVDM,1,1,,B,B52Er4P0<UlHM059Uh0000040000,0*06"]


def take(source, n: int, stop: StopFlag, timeout: float = 10.0) -> list:
    """The first `n` items of `source` (iterated in a thread), then stop it."""
    got: list = []
    done = threading.Event()

    def pump() -> None:
        for item in source:
            got.append(item)
            if len(got) >= n:
                break
        done.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    assert done.wait(timeout), f"only {len(got)} of {n} items arrived"
    stop.set()
    thread.join(5)
    return got


def test_split_lines_keeps_partial_lines_for_the_next_read() -> None:
    buffer = bytearray()
    assert split_lines(buffer, b"!A,1\r\n!B,") == [b"!A,1"]
    assert split_lines(buffer, b"2\n\n!C") == [b"!B,2"]
    assert bytes(buffer) == b"!C"
    assert len(split_lines(bytearray(), b"x" * 10_000)) == 1  # runaway line cut, memory bounded


def test_backoff_doubles_to_a_ceiling_and_resets() -> None:
    b = Backoff(1.0, 5.0)
    assert [b.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next() == 1.0


def test_tcp_client_reads_lines_and_reconnects_after_the_server_drops_it() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []

    def serve() -> None:
        for i in range(2):  # two connections: the first is dropped mid-stream, with a partial line
            conn, _ = server.accept()
            accepted.append(time.monotonic())
            conn.sendall(LINES[i] + b"\r\n" + (b"!AIVDM,1,1,,A,cut" if i == 0 else LINES[0] + b"\n"))
            time.sleep(0.2)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    stop = StopFlag()
    source = TcpSource("127.0.0.1", port, stop, Backoff(0.3, 1.0))
    items = take(source, 3, stop)
    server.close()
    assert [line for line, _ in items] == [LINES[0], LINES[1], LINES[0]]
    assert source.connections == 2
    assert accepted[1] - accepted[0] >= 0.3 + 0.2  # waited its backoff before reconnecting


def test_tcp_client_keeps_retrying_while_the_server_is_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = StopFlag()
    source = TcpSource("127.0.0.1", port, stop, Backoff(0.05, 0.2))
    got = []
    thread = threading.Thread(target=lambda: got.extend(source), daemon=True)
    thread.start()
    time.sleep(0.6)  # refused several times meanwhile
    server = socket.create_server(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.sendall(LINES[0] + b"\n")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    conn.close()
    server.close()
    assert [line for line, _ in got] == [LINES[0]]
    assert source.backoff.current == 0.05  # reset by the data


def test_udp_listener_receives_datagrams_of_one_or_several_lines() -> None:
    stop = StopFlag()
    source = UdpSource("127.0.0.1", 0, stop)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(LINES[0] + b"\r\n", ("127.0.0.1", source.port))
        sender.sendto(LINES[1] + b"\r\n" + LINES[0], ("127.0.0.1", source.port))
    items = take(source, 3, stop)
    assert [line for line, _ in items] == [LINES[0], LINES[1], LINES[0]]


def test_file_read_to_the_end_without_follow(tmp_path: Path) -> None:
    path = tmp_path / "ais.log"
    path.write_bytes(LINES[0] + b"\n" + LINES[1])  # no newline after the last line
    assert [line for line, _ in FileSource(path, StopFlag())] == [LINES[0] + b"\n", LINES[1]]


def test_file_follow_sees_appends_partial_writes_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "ais.log"
    path.write_bytes(LINES[0] + b"\n")
    stop = StopFlag()
    got: list[bytes] = []
    source = FileSource(path, stop, follow=True, poll_s=0.05)
    thread = threading.Thread(target=lambda: got.extend(line.strip() for line, _ in source), daemon=True)
    thread.start()

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 5
        while len(got) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(got) >= n, got

    wait_for(1)
    with path.open("ab") as out:  # a writer that flushes half a line, then the rest
        out.write(LINES[1][:20])
        out.flush()
        time.sleep(0.2)
        out.write(LINES[1][20:] + b"\n")
    wait_for(2)
    os.rename(path, tmp_path / "ais.log.1")  # logrotate: move away, start a new file
    path.write_bytes(LINES[0] + b"\n")
    wait_for(3)
    stop.set()
    thread.join(5)
    assert got == [LINES[0], LINES[1], LINES[0]]


def test_http_poller_sends_the_key_honours_429_retry_after_and_yields_records(api: str) -> None:
    record = {"MMSI": 366000001, "LATITUDE": 36.8, "LONGITUDE": -122.3}
    AisApi.answers = [
        (429, {"Retry-After": "1"}, {"error": "slow down"}),
        (500, {}, {"error": "oops"}),
        (200, {"ETag": '"v1"'}, [{"ERROR": False}, [record, {"nmea": LINES[0].decode()}]]),
    ]
    stop = StopFlag()
    source = HttpSource(api, stop, interval_s=0.05, api_key="s3cret", backoff=Backoff(0.2, 1.0))
    items = take(source, 2, stop)
    assert [payload for payload, _ in items] == [record, {"nmea": LINES[0].decode()}]
    (t429, h429), (t500, _), (t200, _) = AisApi.seen[:3]
    assert h429["X-API-Key"] == "s3cret"
    assert t500 - t429 >= 0.95  # waited as long as the server asked, not the 0.05 s interval
    assert t200 - t500 >= 0.19  # a server error backs off
    assert source.errors == 2


def test_http_poller_uses_etag_and_waits_for_an_exhausted_quota(api: str) -> None:
    AisApi.answers = [
        (200, {"ETag": '"v1"', "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}, {"data": [{"mmsi": 1}]}),
        (304, {}, None),
        (200, {}, {"data": [{"mmsi": 2}]}),
    ]
    stop = StopFlag()
    source = HttpSource(api, stop, interval_s=0.05, api_key="k", api_key_header="Authorization")
    items = take(source, 2, stop)
    assert [p["mmsi"] for p, _ in items] == [1, 2]
    (t1, h1), (t2, h2) = AisApi.seen[:2]
    assert h1["Authorization"] == "Bearer k"
    assert h2["If-None-Match"] == '"v1"'
    assert t2 - t1 >= 0.95


def test_header_and_payload_helpers() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == 30.0
    assert retry_after_s("soon") is None
    assert rate_limit_wait_s({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "9"}) is None
    assert rate_limit_wait_s({"RateLimit-Remaining": "0", "RateLimit-Reset": "1700000010"}, now=1700000000) == 10
    assert json_records({"vessels": [1, 2]}) == [1, 2]
    assert json_records([{"a": 1}]) == [{"a": 1}]
    with pytest.raises(ValueError):
        json_records([{"ERROR": True, "ERROR_MESSAGE": "Too frequent requests!"}, []])
