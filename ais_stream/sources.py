"""Where AIS data comes from: TCP, UDP, log files, an HTTP JSON API, aisstream.io, or the simulator.

Every source is an iterable of `Item`s, (raw line or JSON record, arrival time; for a file the
anchor of its clock), that runs until its `stop` flag is set (a file that is not followed ends
at its end).  Sources own their failure handling, so the service around them only ever sees
data: a dropped TCP or WebSocket connection is retried with exponential backoff, an HTTP 429
waits as long as the server asks, a rotated log file is reopened.  They never decode: that is `ais_stream.decode`'s job.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import socket
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import requests
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from ais_stream.decode import LogAnchor
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.nmea import NmeaSimulator, live_sentences

log = logging.getLogger(__name__)

# An NMEA line (bytes), or a JSON record (text a JSON API sent that is not JSON stays a str,
# for the decoder to refuse and count), with its arrival time.
Item = tuple[bytes | dict[str, Any] | str, float]
MAX_LINE = 4096  # an NMEA sentence is at most 82 characters; a tag block adds a little


class Stop(Protocol):
    """What sources need of `oceanwatch.runtime.service.StopFlag`: ask, and sleep unless stopped."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Backoff:
    """Exponential backoff: `initial`, doubling up to `maximum`; `reset` after a success."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self.initial, self.maximum = initial, maximum
        self.current = initial

    def next(self) -> float:
        delay = self.current
        self.current = min(self.maximum, self.current * 2.0)
        return delay

    def reset(self) -> None:
        self.current = self.initial


def split_lines(buffer: bytearray, data: bytes) -> list[bytes]:
    """Append `data` to `buffer` and take out the complete lines (CR, LF or CRLF ended).

    A runaway line without an end (binary noise) is cut at MAX_LINE so memory stays bounded;
    the decoder then rejects the pieces.
    """
    buffer.extend(data)
    parts = bytes(buffer).replace(b"\r", b"\n").split(b"\n")
    rest = parts.pop()
    if len(rest) > MAX_LINE:
        parts.append(rest)
        rest = b""
    buffer[:] = rest
    return [p for p in parts if p]


class TcpSource:
    """NMEA over TCP as a client (AIS receivers and aggregators serve it, often on port 10110)."""

    name = "tcp"

    def __init__(
        self, host: str, port: int, stop: Stop, backoff: Backoff | None = None, timeout_s: float = 5.0
    ) -> None:
        self.host, self.port, self.stop = host, port, stop
        self.backoff = backoff or Backoff()
        self.timeout_s = timeout_s
        self.connections = 0

    def __iter__(self) -> Iterator[Item]:
        while not self.stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=self.timeout_s) as sock:
                    self.connections += 1
                    log.info("connected to NMEA server %s:%d", self.host, self.port)
                    sock.settimeout(0.5)
                    yield from self._read(sock)
                    reason = "closed by the server"
            except OSError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if self.stop.is_set():
                break
            delay = self.backoff.next()
            log.warning("NMEA server %s:%d: %s; reconnecting in %.1f s", self.host, self.port, reason, delay)
            self.stop.wait(delay)

    def _read(self, sock: socket.socket) -> Iterator[Item]:
        buffer = bytearray()
        idle_since = time.monotonic()
        while not self.stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if time.monotonic() - idle_since > 300:  # a silent half-open connection: reconnect
                    raise TimeoutError("no data for 300 s") from None
                continue
            if not data:
                return
            idle_since = time.monotonic()
            self.backoff.reset()
            now = time.time()
            for line in split_lines(buffer, data):
                yield line, now


class UdpSource:
    """NMEA datagrams (what most AIS receivers and OpenCPN forward), one or more lines each.

    The socket is bound on construction, so `port` is known (and taken) before iterating.
    """

    name = "udp"

    def __init__(self, host: str, port: int, stop: Stop) -> None:
        self.stop = stop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind((host, port))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        log.info("listening for NMEA datagrams on %s:%d", host, self.port)

    def __iter__(self) -> Iterator[Item]:
        try:
            while not self.stop.is_set():
                try:
                    data, _ = self.sock.recvfrom(65536)
                except TimeoutError:
                    continue
                now = time.time()
                for line in data.replace(b"\r", b"\n").split(b"\n"):
                    if line:
                        yield line, now
        finally:
            self.sock.close()


class FileSource:
    """An NMEA log file, read from the start; with `follow`, kept open for new lines like `tail -F`.

    Following survives rotation: when the path names a new file (new inode) or the file
    shrinks (truncated), the new content is read from its start.  The lines already in the file
    when it is first opened (its backlog) come with a `LogAnchor`, the file's modification time,
    not the time they were read: it anchors the decoder's `LogClock`, so a second pass over the
    same file dates its untimestamped lines the same and stores nothing twice.  Lines written
    after that (followed past the end, or in a rotated-in file) come with their arrival time.
    """

    name = "file"

    def __init__(self, path: Path, stop: Stop, follow: bool = False, poll_s: float = 0.2) -> None:
        self.path, self.stop, self.follow, self.poll_s = Path(path), stop, follow, poll_s

    def __iter__(self) -> Iterator[Item]:
        handle = self._open()
        anchor = None if handle is None else LogAnchor(int(os.fstat(handle.fileno()).st_mtime))
        try:
            while not self.stop.is_set():
                if handle is None:
                    if not self.follow:
                        return
                    self.stop.wait(self.poll_s)
                    handle = self._open()
                    continue
                line = handle.readline(MAX_LINE)
                if line.endswith(b"\n") or (line and len(line) >= MAX_LINE):
                    yield line, time.time() if anchor is None else anchor
                    continue
                if line and not self.follow:  # the last line of a finished file has no newline
                    yield line, time.time() if anchor is None else anchor
                    continue
                if line:  # a partial line being written: read it again whole
                    handle.seek(-len(line), os.SEEK_CUR)
                if not self.follow:
                    return
                anchor = None  # the backlog is read: what comes now arrives live
                if self._replaced(handle):
                    log.info("%s was rotated or truncated; reading it from the start", self.path)
                    handle.close()
                    handle = self._open()
                    continue
                self.stop.wait(self.poll_s)
        finally:
            if handle is not None:
                handle.close()

    def _open(self) -> Any:
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            if not self.follow:
                raise
            return None

    def _replaced(self, handle: Any) -> bool:
        try:
            on_disk = self.path.stat()
        except FileNotFoundError:
            return False  # rotated away and not recreated yet: keep reading the old file
        mine = os.fstat(handle.fileno())
        return on_disk.st_ino != mine.st_ino or on_disk.st_size < handle.tell()


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def rate_limit_wait_s(headers: Any, now: float | None = None) -> float | None:
    """Seconds until the quota resets when `X-RateLimit-Remaining` (or `RateLimit-Remaining`) is 0."""
    for prefix in ("X-RateLimit-", "RateLimit-"):
        remaining = headers.get(prefix + "Remaining")
        reset = headers.get(prefix + "Reset")
        if remaining is None or reset is None:
            continue
        try:
            if int(float(remaining)) > 0:
                return None
            reset_value = float(reset)
        except ValueError:
            return None
        now = time.time() if now is None else now
        return max(0.0, reset_value - now) if reset_value > 1e9 else max(0.0, reset_value)
    return None


def json_records(payload: Any) -> list[Any]:
    """The records of an API response: a list, a list under a usual key, or AISHub's [meta, [records]]."""
    if isinstance(payload, dict):
        if payload.get("ERROR") is True or payload.get("error") not in (None, False, "", 0):
            raise ValueError(f"API reports an error: {payload.get('ERROR_MESSAGE') or payload.get('error')}")
        for key in ("data", "vessels", "positions", "records", "messages", "items", "results"):
            if isinstance(payload.get(key), list):
                return payload[key]
        return [payload]
    if isinstance(payload, list):
        if len(payload) == 2 and isinstance(payload[0], dict) and isinstance(payload[1], list):
            if payload[0].get("ERROR") is True:
                raise ValueError(f"API reports an error: {payload[0].get('ERROR_MESSAGE')}")
            return payload[1]
        return payload
    raise ValueError(f"unexpected JSON {type(payload).__name__}")


class HttpSource:
    """Polls an HTTP JSON API every `interval_s`, politely.

    The API key travels in a header (never in the logged URL).  A 429 or 503 waits for its
    Retry-After; an exhausted `X-RateLimit-Remaining` waits for `X-RateLimit-Reset`; network
    errors and other failures back off exponentially.  ETag / If-None-Match saves quota
    when nothing changed.
    """

    name = "http"

    def __init__(
        self,
        url: str,
        stop: Stop,
        interval_s: float = 60.0,
        api_key: str = "",
        api_key_header: str = "X-API-Key",
        session: requests.Session | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url, self.stop, self.interval_s = url, stop, interval_s
        self.session = session or requests.Session()
        self.headers = {"Accept": "application/json", "User-Agent": "oceanwatch-ais/1"}
        if api_key:
            self.headers[api_key_header] = f"Bearer {api_key}" if api_key_header.lower() == "authorization" else api_key
        self.backoff = backoff or Backoff(max(1.0, interval_s), max(300.0, interval_s))
        self.timeout_s = timeout_s
        self.requests = 0
        self.errors = 0

    def __iter__(self) -> Iterator[Item]:
        etag = None
        while not self.stop.is_set():
            headers = dict(self.headers, **({"If-None-Match": etag} if etag else {}))
            delay = self.interval_s
            try:
                self.requests += 1
                response = self.session.get(self.url, headers=headers, timeout=self.timeout_s)
                now = time.time()
                if response.status_code in (429, 503):
                    self.errors += 1
                    delay = retry_after_s(response.headers.get("Retry-After")) or self.backoff.next()
                    log.warning(
                        "AIS API %s answered %d; waiting %.1f s", response.status_code, response.status_code, delay
                    )
                elif response.status_code == 304:
                    self.backoff.reset()
                elif response.ok:
                    records = json_records(response.json())
                    etag = response.headers.get("ETag")
                    self.backoff.reset()
                    for record in records:
                        yield record, now
                    delay = max(delay, rate_limit_wait_s(response.headers, now) or 0.0)
                else:
                    self.errors += 1
                    delay = self.backoff.next()
                    log.warning(
                        "AIS API answered %d (%.200s); retrying in %.1f s", response.status_code, response.text, delay
                    )
            except (requests.RequestException, ValueError, json.JSONDecodeError) as exc:
                self.errors += 1
                delay = self.backoff.next()
                log.warning("AIS API poll failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay)
            self.stop.wait(delay)


class AisStreamSource:
    """aisstream.io's WebSocket stream: subscribe with the API key and bounding boxes, yield its messages.

    The subscription is the first thing sent (the server closes a socket that has not sent one
    within 3 s).  An `{"error": ...}` answer (a bad key, a bad box) is logged and counted, and
    the connection retried with backoff like a drop, so a wrong key never hammers the server;
    websockets' pings notice a dead connection.  Messages are yielded parsed, for the decoder's
    `feed_record`; a frame that is not JSON is yielded as its text, for the decoder to refuse.
    """

    name = "aisstream"

    def __init__(
        self,
        url: str,
        api_key: str,
        bounding_boxes: Sequence[Sequence[Sequence[float]]],
        stop: Stop,
        message_types: Sequence[str] = (),
        backoff: Backoff | None = None,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.url, self.stop = url, stop
        self.subscription: dict[str, Any] = {
            "APIKey": api_key,
            "BoundingBoxes": [[list(corner) for corner in box] for box in bounding_boxes],
        }
        if message_types:
            self.subscription["FilterMessageTypes"] = list(message_types)
        self.backoff = backoff or Backoff()
        self.open_timeout_s = open_timeout_s
        self.connections = 0
        self.errors = 0

    def __iter__(self) -> Iterator[Item]:
        while not self.stop.is_set():
            try:
                with connect(
                    self.url, open_timeout=self.open_timeout_s, close_timeout=2.0, user_agent_header="oceanwatch-ais/1"
                ) as ws:
                    ws.send(json.dumps(self.subscription))
                    self.connections += 1
                    log.info(
                        "subscribed to %s for %d bounding boxes", self.url, len(self.subscription["BoundingBoxes"])
                    )
                    reason = yield from self._read(ws)
            except (OSError, WebSocketException) as exc:  # refused, dropped, closed, bad handshake
                reason = f"{type(exc).__name__}: {exc}"
            if self.stop.is_set():
                break
            delay = self.backoff.next()
            log.warning("aisstream.io %s: %s; reconnecting in %.1f s", self.url, reason, delay)
            self.stop.wait(delay)

    def _read(self, ws: ClientConnection) -> Generator[Item, None, str]:
        """Items until the stop flag or an error message; returns why it ended."""
        while not self.stop.is_set():
            try:
                frame = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            now = time.time()
            text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
            try:
                message = json.loads(text)
            except ValueError:
                yield text, now
                continue
            if isinstance(message, dict) and message.get("error"):
                self.errors += 1
                return f"the server reports an error: {message['error']}"
            self.backoff.reset()
            yield message, now
        return "stopping"


class SimulatorSource:
    """The seeded scenario's NMEA traffic on the shared simulated clock (real time or faster)."""

    name = "simulator"

    def __init__(self, sim: NmeaSimulator, clock: SimClock, stop: Stop, start: float | None = None) -> None:
        self.sim, self.clock, self.stop, self.start = sim, clock, stop, start

    def __iter__(self) -> Iterator[Item]:
        for _, sentence in live_sentences(self.sim, self.clock, self.stop.is_set, self.stop.wait, self.start):
            yield sentence.encode("ascii"), time.time()
