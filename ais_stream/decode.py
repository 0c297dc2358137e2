"""NMEA 0183 AIS lines (and JSON records) in, position and static reports out.

pyais parses sentences and decodes payloads; this module adds what a live feed needs around
it: multi-part assembly that notices lost fragments, the time of each report (tag block
`c:`, a USCG/NAIS receiver suffix, a leading log timestamp, else arrival time corrected by the
report's UTC second, or for a log file its own `LogClock`), checks that a payload holds the
fields stored, and a count of every line it refuses, by reason.
Nothing here raises on bad input: a feed carries noise, and one bad line must not stop it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyais.exceptions import InvalidNMEAMessageException, UnknownMessageException
from pyais.messages import AISSentence, NMEASentenceFactory, TagBlock
from pyais.util import compute_checksum

from oceanwatch.runtime.counters import AIS_REJECTS

log = logging.getLogger(__name__)

POSITION_TYPES = frozenset({1, 2, 3, 18, 19, 27})
STATIC_TYPES = frozenset({5, 19, 24})
# Shortest payload (bits) that still holds every field we store (positions: up to the UTC
# second); shorter is a cut-off transmission.  Receivers pass on type 1-3 reports of 163-167
# bits, the spare and radio bits missing, as gpsd decodes them.
MIN_BITS = {1: 143, 2: 143, 3: 143, 5: 420, 18: 139, 19: 312, 24: 160, 27: 94}
# Bit offset of the 8-bit ship type: read raw, because pyais folds "reserved" codes (76-78...)
# into one, and the platform's class mapping is per code.
SHIP_TYPE_BIT = {5: 232, 19: 263, 24: 40}
MAX_FRAGMENT_AGE_S = 60.0
LOGGED_PER_REASON = 5
# USCG/NAIS receivers append metadata after the checksum (libais documents the format), e.g.
# `...,0*hh,d-080,S2118,t050056.00,T56.48377,r003669945,1425160856`: signal dBm, slot, receiver
# time hhmmss.ss UTC, arrival second, station, and the logger's UNIX time last.
_SUFFIX_CLOCK = re.compile(rb"t([01]\d|2[0-3])([0-5]\d)([0-5]\d(?:\.\d*)?)")
_SUFFIX_STATION = re.compile(rb"[rRbBD][A-Za-z0-9_-]+")
_SUFFIX_UNIX = re.compile(rb"\d+(?:\.\d*)?")
_NMEA_ADDRESS = re.compile(rb"[A-Z][A-Z0-9]{3,8}")  # talker + sentence (GPRMC), or proprietary (PGRME)


@dataclass(frozen=True, slots=True)
class PositionReport:
    """Where one vessel was at one time (None where the report says "not available")."""

    mmsi: int
    time: float
    latitude: float
    longitude: float
    sog_knots: float | None
    cog_deg: float | None
    heading_deg: float | None
    nav_status: int | None
    msg_type: int


@dataclass(frozen=True, slots=True)
class StaticReport:
    """Identity and size of one vessel; a None field means "not in this report", not "erase"."""

    mmsi: int
    time: float
    name: str | None = None
    call_sign: str | None = None
    imo: int | None = None
    ship_type: int | None = None
    length_m: float | None = None
    beam_m: float | None = None
    draught_m: float | None = None
    destination: str | None = None


Report = PositionReport | StaticReport


class Rejected(Exception):
    """A line or record that is not a usable report; `reason` is the counter it goes to."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def parse_log_time(text: str) -> float:
    """A log-line timestamp (UNIX seconds or milliseconds, or ISO 8601; UTC if no zone) as UNIX seconds."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"not a time: {text}")
    return value / 1000.0 if value > 1e11 else value


def report_time(received_at: float, second: int | None) -> float:
    """Arrival time moved back to the report's own UTC second (0-59), when the report gives one.

    Two receivers hearing one transmission then agree on its time, so it is stored once.
    """
    if second is None or not 0 <= second <= 59:
        return received_at
    t = math.floor(received_at / 60.0) * 60.0 + second
    return t - 60.0 if t > received_at + 1.0 else t


def split_suffix(raw: bytes) -> tuple[bytes, bytes]:
    """The line up to its sentence's checksum, and the comma-separated fields a receiver put after it."""
    star = raw.find(b"*", raw.find(b"\\", 1) + 1 if raw[:1] == b"\\" else 0)
    if star < 0 or raw[star + 3 : star + 4] != b",":
        return raw, b""
    return raw[: star + 3], raw[star + 4 :]


def suffix_info(suffix: bytes, dated_by: float) -> tuple[float | None, str | None]:
    """Receive time and station of a USCG/NAIS suffix (None where it gives none); other fields are skipped.

    The UNIX time at the end wins if plausible (from 2000 to a day past `dated_by`); else the
    receiver's hhmmss on the day that puts it nearest `dated_by` (the log's own date, or arrival).
    """
    fields = suffix.split(b",")
    t = station = None
    if _SUFFIX_UNIX.fullmatch(fields[-1]):
        unix = float(fields[-1])
        t = unix if EARLIEST_RECORD_TIME <= unix <= dated_by + 86_400.0 else None
    for field in fields:
        clock = _SUFFIX_CLOCK.fullmatch(field)
        if clock is not None and t is None:
            day = math.floor(dated_by / 86_400.0) * 86_400.0
            at = day + int(clock[1]) * 3600 + int(clock[2]) * 60 + float(clock[3])
            t = min((at - 86_400.0, at, at + 86_400.0), key=lambda c: abs(c - dated_by))
        elif station is None and _SUFFIX_STATION.fullmatch(field):
            station = field.decode("ascii")
    return t, station


class LogAnchor(float):
    """The "arrival time" a log file's backlog lines carry: the file's modification time, which anchors
    the `LogClock` of the file, not a time anything arrived (a log is read far faster than written)."""


class LogClock:
    """Times for the untimestamped reports of a log file, the same on every pass over it.

    A log is read much faster than it was written, so arrival time says nothing and would
    differ on a second pass.  This clock starts at an anchor (the file's modification time),
    follows every time a line of the log gives, and otherwise advances with the reports' own
    UTC seconds: a report goes to the time nearest the clock (within 30 s either way) with its
    second, and after its vessel's previous report (its second not moving on means a minute
    passed), so distinct reports stay distinct.  One of a vessel's last few payloads again
    within 30 s is the same transmission heard twice (receivers merged into one log): it keeps
    its time and is stored once.
    """

    MAX_VESSELS = 100_000
    RECENT = 4

    def __init__(self, anchor: float) -> None:
        self.anchor = anchor
        self.now = float(math.floor(anchor))
        self._recent: dict[int, tuple[tuple[float, bytes], ...]] = {}  # per vessel, oldest first

    def sync(self, t: float) -> None:
        """A time the log itself gives."""
        self.now = t

    def place(self, mmsi: int, second: int | None, payload: bytes) -> float:
        """The time of a position report from `mmsi` with UTC `second` (None or 60-63: not given)."""
        now = math.floor(self.now)
        recent = self._recent.get(mmsi, ())
        for earlier, seen in recent:
            if seen == payload and now - earlier < 30.0:
                return earlier
        last = recent[-1][0] if recent else None  # a vessel's times only ever increase
        if second is None or not 0 <= second <= 59:
            t = float(now) if last is None else max(float(now), last + 1.0)
        else:
            t = float(now + (second - now + 30) % 60 - 30)
            self.now = max(self.now, t)
            if last is not None and t <= last:
                t += 60.0 * math.ceil((last - t + 1.0) / 60.0)
        if len(self._recent) >= self.MAX_VESSELS:  # a long-followed log: forget vessels gone an hour
            self._recent = {k: v for k, v in self._recent.items() if v[-1][0] > now - 3600.0}
        self._recent[mmsi] = (*recent[1 - self.RECENT :], (t, payload))
        return t


def _text(value: Any) -> str | None:
    text = str(value).replace("@", " ").strip() if value is not None else ""
    return text or None


def _dimension(a: Any, b: Any) -> float | None:
    total = (a or 0) + (b or 0)
    return float(total) if total > 0 else None


def _position(msg: Any, msg_type: int, t: float) -> PositionReport:
    lat, lon = msg.lat, msg.lon
    if lat is None or lon is None or (lat == 91.0 and lon == 181.0) or (msg_type == 27 and lat == 91.0):
        raise Rejected("no_position", f"MMSI {msg.mmsi} reports no position")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise Rejected("invalid_position", f"MMSI {msg.mmsi} at {lat}, {lon}")
    speed, course, heading = msg.speed, msg.course, getattr(msg, "heading", None)
    status = getattr(msg, "status", None)
    return PositionReport(
        mmsi=int(msg.mmsi),
        time=t,
        latitude=float(lat),
        longitude=float(lon),
        sog_knots=None if speed is None or speed >= (63 if msg_type == 27 else 102.3) else float(speed),
        cog_deg=None if course is None or course >= (511 if msg_type == 27 else 360.0) else float(course),
        heading_deg=None if heading is None or heading >= 360 else float(heading),
        nav_status=None if status is None else int(status),
        msg_type=msg_type,
    )


def _static(msg: Any, msg_type: int, t: float, ship_type: int | None) -> StaticReport:
    fields = {
        name: getattr(msg, name, None)
        for name in (
            "shipname",
            "callsign",
            "imo",
            "to_bow",
            "to_stern",
            "to_port",
            "to_starboard",
            "draught",
            "destination",
        )
    }
    return StaticReport(
        mmsi=int(msg.mmsi),
        time=t,
        name=_text(fields["shipname"]),
        call_sign=_text(fields["callsign"]),
        imo=int(fields["imo"]) if fields["imo"] else None,
        ship_type=ship_type if ship_type is not None and 0 < ship_type <= 99 else None,
        length_m=_dimension(fields["to_bow"], fields["to_stern"]),
        beam_m=_dimension(fields["to_port"], fields["to_starboard"]),
        draught_m=float(fields["draught"]) if fields["draught"] else None,
        destination=_text(fields["destination"]),
    )


class AisDecoder:
    """Turns a stream of lines into reports, keeping per-reason counts of what it refused.

    `rejected` counts lines that are broken (bad checksum, garbage, truncated, unknown type,
    lost fragments...); `ignored` counts valid AIS messages of types this platform does not
    store (base stations, safety text, aids to navigation...) and other NMEA sentences a
    receiver logs (`nmea_GPRMC`...); `accepted` counts reports out.

    A line whose `received_at` is a `LogAnchor` (a log file's backlog) is not dated by arrival:
    its untimestamped reports get their times from a `LogClock` started at that anchor.
    """

    def __init__(self, max_fragment_age_s: float = MAX_FRAGMENT_AGE_S) -> None:
        self.max_fragment_age_s = max_fragment_age_s
        self.rejected: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self._fragments: dict[tuple[Any, ...], tuple[float, float | None, list[AISSentence]]] = {}
        self._tag_cache: dict[bytes, tuple[float | None, str | None, int | None]] = {}
        self._clock: LogClock | None = None

    # -- lines ----------------------------------------------------------------------------
    def feed(self, line: bytes | str, received_at: float) -> list[Report]:
        """Reports completed by this line: none (a fragment, or refused), one, or two (type 19)."""
        try:
            return self._feed(line.encode("ascii", "replace") if isinstance(line, str) else line, received_at)
        except Rejected as exc:
            self._reject(exc.reason, str(exc), line)
        except Exception as exc:  # pyais raising something unforeseen must not stop the feed
            self._reject("undecodable", f"{type(exc).__name__}: {exc}", line)
        return []

    def _feed(self, raw: bytes, received_at: float) -> list[Report]:
        raw = raw.strip()
        if not raw:
            return []
        if not isinstance(received_at, LogAnchor):
            self._clock = None  # a line that really arrived now (a network feed, a followed log's new line)
        elif self._clock is None or self._clock.anchor != received_at:
            self._clock = LogClock(received_at)  # the first line of a log's backlog
        stamp = None
        if raw[:1] not in (b"!", b"$", b"\\"):
            # "<time> !AIVDM..." as many loggers write; anything else before the sentence is garbage.
            start = min((i for i in (raw.find(b"!"), raw.find(b"$"), raw.find(b"\\")) if i > 0), default=-1)
            if start < 0:
                raise Rejected("garbage", "no NMEA sentence")
            try:
                stamp = parse_log_time(raw[:start].decode("ascii").strip(" ,;\t"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise Rejected("garbage", f"text before the sentence is not a time ({exc})") from None
            raw = raw[start:]
        if raw[:1] == b"\\" and raw.find(b"\\", 1) < 0:
            raise Rejected("truncated", "tag block without its end")
        raw, suffix = split_suffix(raw)
        try:
            sentence = NMEASentenceFactory.produce(raw)
        except UnknownMessageException:
            body = raw[raw.find(b"\\", 1) + 1 :] if raw[:1] == b"\\" else raw
            if body[:1] not in (b"$", b"!"):
                raise Rejected("garbage", "not an NMEA sentence") from None
            if b"*" not in body:
                raise Rejected("truncated", "no checksum") from None
            self._other_sentence(body)
            return []
        except InvalidNMEAMessageException as exc:
            raise Rejected("truncated" if b"*" not in raw else "malformed", str(exc)) from None
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise Rejected("malformed", str(exc)) from None
        if not isinstance(sentence, AISSentence):
            self.ignored["wrapper_sentence"] += 1  # Gatehouse $PGHP: valid, nothing to store
            return []
        if sentence.checksum < 0:
            raise Rejected("truncated", "no checksum")
        if not sentence.is_valid:
            raise Rejected("bad_checksum", f"expected {sentence.checksum:02X}")
        tag_stamp = station = group = None
        if sentence.tag_block is not None:
            tag_stamp, station, group = self._tag_info(sentence.tag_block)
        if suffix:
            dated_by = stamp if stamp is not None else self._clock.now if self._clock else received_at
            suffix_stamp, suffix_station = suffix_info(suffix, dated_by)
            stamp = suffix_stamp if suffix_stamp is not None else stamp
            station = station if station is not None else suffix_station
        stamp = tag_stamp if tag_stamp is not None else stamp
        if stamp is not None and self._clock is not None:
            self._clock.sync(stamp)
        assembled = self._assemble(
            sentence, station, group, stamp, self._clock.now if self._clock is not None else received_at
        )
        if assembled is None:
            return []
        return self._decode(*assembled, received_at)

    def _other_sentence(self, body: bytes) -> None:
        """A sentence that is not AIS: GPS fixes and receiver status are normal in a receiver's log."""
        star = body.find(b"*")
        address = body[1:star].split(b",", 1)[0]
        if not _NMEA_ADDRESS.fullmatch(address):
            raise Rejected("unsupported_sentence", body[:8].decode("ascii", "replace"))
        try:
            expected = int(body[star + 1 :], 16)
        except ValueError:
            raise Rejected("malformed", "checksum is not two hex digits") from None
        if expected != compute_checksum(body):
            raise Rejected("bad_checksum", f"expected {expected:02X}")
        self.ignored[f"nmea_{address.decode('ascii')}"] += 1

    def _tag_info(self, tag: TagBlock) -> tuple[float | None, str | None, int | None]:
        """Receiver time, station and group id of a tag block (cached: a receiver stamps many sentences alike)."""
        cached = self._tag_cache.get(tag.raw)
        if cached is not None:
            return cached
        tag.init()
        if not tag.is_valid:
            raise Rejected("bad_checksum", "tag block checksum")
        try:
            stamp = parse_log_time(tag.receiver_timestamp) if tag.receiver_timestamp else None
        except ValueError:
            raise Rejected("malformed", f"tag block time {tag.receiver_timestamp!r}") from None
        if len(self._tag_cache) >= 1024:
            self._tag_cache.clear()
        group = tag.group.group_id if tag.group is not None else None
        info = self._tag_cache[tag.raw] = (stamp, tag.source_station, group)
        return info

    def _assemble(
        self, sentence: AISSentence, station: str | None, group: int | None, stamp: float | None, now: float
    ) -> tuple[AISSentence, float | None] | None:
        """The whole message and its time once its last fragment arrives; lost or stray fragments are counted.

        Fragments belong together by their NMEA 4.10 tag block group (`g:`) when they carry one
        (station and time are often on the first fragment only, and then count for all); else
        by sequence id, channel and talker, and by receiving station when tag blocks or a suffix
        name it: a feed merged from several receivers reuses the ten ids a lot.
        """
        if self._fragments:
            self._expire(now)
        if sentence.frag_cnt == 1:
            return sentence, stamp
        key: tuple[Any, ...] = (
            ("group", group, sentence.frag_cnt)
            if group is not None
            else (station, sentence.seq_id, sentence.channel, sentence.talker_id, sentence.frag_cnt)
        )
        if sentence.frag_num == 1:
            if key in self._fragments:
                self._reject("incomplete_multipart", "superseded before its last fragment", sentence.raw)
            self._fragments[key] = (now, stamp, [sentence])
            return None
        pending = self._fragments.get(key)
        if pending is None or len(pending[2]) != sentence.frag_num - 1:
            raise Rejected("orphan_fragment", f"fragment {sentence.frag_num}/{sentence.frag_cnt} without its start")
        pending[2].append(sentence)
        if sentence.frag_num < sentence.frag_cnt:
            return None
        del self._fragments[key]
        return AISSentence.assemble_from_iterable(pending[2]), pending[1] if pending[1] is not None else stamp

    def _expire(self, now: float) -> None:
        for key in [k for k, (t, _, _) in self._fragments.items() if now - t > self.max_fragment_age_s]:
            _, _, parts = self._fragments.pop(key)
            self._reject("incomplete_multipart", "timed out waiting for its last fragment", parts[0].raw)

    def _decode(self, sentence: AISSentence, stamp: float | None, received_at: float) -> list[Report]:
        if not sentence.payload:
            raise Rejected("truncated", "empty payload")
        msg_type = sentence.ais_id
        if not 1 <= msg_type <= 27:  # ITU-R M.1371 defines 1-27 (pyais maps 0 to type 1)
            raise Rejected("unknown_type", f"AIS message type {msg_type}")
        if msg_type not in POSITION_TYPES and msg_type not in STATIC_TYPES:
            self.ignored[f"type_{msg_type}"] += 1
            return []
        if len(sentence.bv) < MIN_BITS[msg_type]:
            raise Rejected("truncated", f"type {msg_type} payload of {len(sentence.bv)} bits")
        msg = sentence.decode()
        if not 0 < int(msg.mmsi) <= 999_999_999:
            raise Rejected("invalid_mmsi", str(msg.mmsi))
        if stamp is not None:
            t = stamp
        elif self._clock is None:
            t = report_time(received_at, getattr(msg, "second", None))
        elif msg_type in POSITION_TYPES:
            t = self._clock.place(int(msg.mmsi), getattr(msg, "second", None), sentence.payload)
        else:
            t = self._clock.now
        reports: list[Report] = []
        if msg_type in STATIC_TYPES:
            part_a = msg_type == 24 and getattr(msg, "partno", 0) == 0
            ship_type = None if part_a else sentence.bv.get(SHIP_TYPE_BIT[msg_type], 8)
            reports.append(_static(msg, msg_type, t, ship_type))
        if msg_type in POSITION_TYPES:
            try:
                reports.append(_position(msg, msg_type, t))
            except Rejected as exc:
                if not reports:
                    raise
                self._reject(exc.reason, str(exc), sentence.raw)
        for report in reports:
            self.accepted["position" if isinstance(report, PositionReport) else "static"] += 1
        return reports

    # -- JSON records (HTTP APIs) -------------------------------------------------------------
    def feed_record(self, record: Any, received_at: float) -> list[Report]:
        """Reports from one JSON object of an API: raw NMEA under `nmea`/`sentence`, an
        aisstream.io message (`MessageType`, `MetaData`, `Message`), or fields.

        Field names are matched case-insensitively, with the spellings common AIS APIs use
        (AISHub's MMSI/LATITUDE/SOG/NAVSTAT/A-D, or latitude/longitude/speed/course...).
        """
        try:
            if not isinstance(record, Mapping):
                raise Rejected("bad_record", f"expected a JSON object, got {type(record).__name__}")
            fields = {str(k).lower(): v for k, v in record.items()}
            if "messagetype" in fields and "message" in fields:
                kind, body = _aisstream_body(fields)
                if kind not in AISSTREAM_KINDS:  # base stations, binary and safety messages...
                    message_id = body.get("MessageID")
                    self.ignored[f"type_{message_id}" if isinstance(message_id, int) else kind] += 1
                    return []
                fields = _aisstream_fields(kind, body, fields.get("metadata"))
            nmea = next((fields[k] for k in ("nmea", "sentence", "sentences", "raw") if k in fields), None)
            if nmea is not None:
                lines = [nmea] if isinstance(nmea, str) else list(nmea)
                return [r for line in lines for r in self.feed(str(line), received_at)]
            reports = _record_reports(fields, received_at)
        except Rejected as exc:
            self._reject(exc.reason, str(exc), repr(record)[:200])
            return []
        for report in reports:
            self.accepted["position" if isinstance(report, PositionReport) else "static"] += 1
        return reports

    def _reject(self, reason: str, detail: str, line: bytes | str) -> None:
        self.rejected[reason] += 1
        AIS_REJECTS.labels(reason).inc()  # published by the service heartbeat, summed in /metrics
        count = self.rejected[reason]
        if count <= LOGGED_PER_REASON or count % 1000 == 0:
            text = line.decode("ascii", "replace") if isinstance(line, bytes) else line
            log.warning("rejected AIS input (%s, %d so far): %s | %.120s", reason, count, detail, text)

    @property
    def pending_fragments(self) -> int:
        return len(self._fragments)


EARLIEST_RECORD_TIME = 946_684_800.0  # 2000-01-01 UTC: earlier is a broken clock or a misread field
MAX_RECORD_AHEAD_S = 300.0  # a record dated this far past its arrival is from a broken clock
# aisstream.io message kinds holding positions or static data; the others are counted as ignored.
AISSTREAM_KINDS = frozenset(
    {
        "PositionReport",
        "StandardClassBPositionReport",
        "ExtendedClassBPositionReport",
        "ShipStaticData",
        "StaticDataReport",
    }
)

_NAMES = {
    "mmsi": ("mmsi", "userid", "mmsi_number"),
    "time": ("time", "timestamp", "ts", "time_utc", "received", "msgtime", "last_position_utc"),
    "second": ("second", "utc_second"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon", "lng"),
    "sog": ("sog", "speed", "sog_knots", "speed_knots"),
    "cog": ("cog", "course", "cog_deg"),
    "heading": ("heading", "hdg", "true_heading", "heading_deg"),
    "status": ("navstat", "nav_status", "navigational_status", "status"),
    "type": ("ship_type", "shiptype", "type", "type_of_ship"),
    "msg_type": ("msg_type", "message_type"),
    "name": ("name", "shipname", "vessel_name"),
    "call_sign": ("callsign", "call_sign"),
    "imo": ("imo",),
    "length": ("length", "length_m"),
    "beam": ("beam", "width", "beam_m"),
    "draught": ("draught", "draft", "draught_m"),
    "destination": ("dest", "destination"),
}


def _pick(fields: Mapping[str, Any], name: str) -> Any:
    for key in _NAMES[name]:
        value = fields.get(key)
        if value is not None and value != "":
            return value
    return None


def _number(fields: Mapping[str, Any], name: str, unavailable: float | None = None) -> float | None:
    value = _pick(fields, name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Rejected("bad_record", f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number) or (unavailable is not None and number >= unavailable):
        return None
    return number


def _ais_second(value: Any) -> int | None:
    """The value as an AIS "time stamp" (the report's UTC second, 0-63), or None if it is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and 0 <= number <= 63 else None


def _record_time(fields: Mapping[str, Any], received_at: float) -> float:
    """When a record's report was made: its own time, else arrival moved back to its UTC second.

    APIs that mirror the AIS fields call the report's UTC second (0-59; 60-63 "not available")
    `timestamp`: read as a UNIX time it would date the position to 1970, so a whole number
    that small is taken as the second.  A time before 2000 or ahead of its arrival (beyond
    clock skew) is a broken record, refused rather than stored where no one will look.
    """
    raw = _pick(fields, "time")
    second = _ais_second(raw) if raw is not None else None
    if raw is None or second is not None:
        return report_time(received_at, second if second is not None else _ais_second(_pick(fields, "second")))
    text = str(raw).strip()
    parts = text.split()
    if len(parts) == 4 and parts[2][:1] in ("+", "-") and parts[3].isalpha():
        # Go's time text (aisstream.io): "2025-10-02 07:47:59.162413401 +0000 UTC", with 0-9
        # fraction digits; datetime reads 6 at most, and no zone name.
        whole, _, fraction = parts[1].partition(".")
        text = f"{parts[0]}T{whole}.{(fraction + '000000')[:6]}{parts[2]}"
    try:
        t = parse_log_time(text)
    except ValueError:
        raise Rejected("bad_record", f"time {raw!r}") from None
    if t < EARLIEST_RECORD_TIME:
        raise Rejected("implausible_time", f"time {raw!r} is before 2000")
    if t > received_at + MAX_RECORD_AHEAD_S:
        raise Rejected("implausible_time", f"time {raw!r} is {t - received_at:.0f} s after the record arrived")
    return t


def _aisstream_body(fields: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The kind of an aisstream.io message and its body, `Message[MessageType]`."""
    kind, message = fields["messagetype"], fields["message"]
    body = message.get(kind) if isinstance(message, Mapping) and isinstance(kind, str) else None
    if not isinstance(body, Mapping):
        raise Rejected("bad_record", f"aisstream.io message {kind!r} without its body")
    return kind, body


def _aisstream_fields(kind: str, body: Mapping[str, Any], metadata: Any) -> dict[str, Any]:
    """An aisstream.io message as the flat fields `_record_reports` reads.

    The body names fields as ITU-R M.1371 does (UserID, Sog, TrueHeading, Timestamp = the UTC
    second, Dimension A-D...) with "not available" values left in (Sog 102.3, TrueHeading 511);
    MetaData adds the time aisstream.io received it.  Type 24 sends part A (name) and part B
    (type, call sign, size) as separate messages; only the part the message is counts.
    """
    meta = metadata if isinstance(metadata, Mapping) else {}
    static = body
    if kind == "StaticDataReport":
        part = body.get("ReportB" if body.get("PartNumber") else "ReportA")
        static = part if isinstance(part, Mapping) else {}
    dims = static.get("Dimension")
    dims = dims if isinstance(dims, Mapping) else {}
    return {
        "mmsi": body.get("UserID", meta.get("MMSI")),
        "time": meta.get("time_utc"),
        "second": body.get("Timestamp"),
        "lat": body.get("Latitude"),
        "lon": body.get("Longitude"),
        "sog": body.get("Sog"),
        "cog": body.get("Cog"),
        "heading": body.get("TrueHeading"),
        "navstat": body.get("NavigationalStatus"),
        "msg_type": body.get("MessageID"),
        "name": static.get("Name"),
        "callsign": static.get("CallSign"),
        "imo": static.get("ImoNumber"),
        "type": static.get("Type", static.get("ShipType")),
        "draught": static.get("MaximumStaticDraught"),
        "destination": static.get("Destination"),
        "a": dims.get("A"),
        "b": dims.get("B"),
        "c": dims.get("C"),
        "d": dims.get("D"),
    }


def _record_reports(fields: Mapping[str, Any], received_at: float) -> list[Report]:
    mmsi = _number(fields, "mmsi")
    if mmsi is None or not 0 < mmsi <= 999_999_999 or mmsi != int(mmsi):
        raise Rejected("invalid_mmsi", repr(_pick(fields, "mmsi")))
    t = _record_time(fields, received_at)
    reports: list[Report] = []
    lat, lon = _number(fields, "lat"), _number(fields, "lon")
    if lat is not None and lon is not None and not (lat == 91.0 or lon == 181.0):
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise Rejected("invalid_position", f"MMSI {int(mmsi)} at {lat}, {lon}")
        status = _number(fields, "status")
        reports.append(
            PositionReport(
                mmsi=int(mmsi),
                time=t,
                latitude=lat,
                longitude=lon,
                sog_knots=_number(fields, "sog", 102.3),
                cog_deg=_number(fields, "cog", 360.0),
                heading_deg=_number(fields, "heading", 360.0),
                nav_status=None if status is None else int(status),
                msg_type=int(_number(fields, "msg_type") or 1),
            )
        )
    dims = {k: _number(fields, k) for k in ("length", "beam")}
    for key, a, b in (("length", "a", "b"), ("beam", "c", "d")):  # AISHub: distances from the antenna
        if dims[key] is None and fields.get(a) is not None and fields.get(b) is not None:
            try:
                dims[key] = _dimension(float(fields[a]), float(fields[b]))
            except (TypeError, ValueError):
                raise Rejected("bad_record", f"dimension {a}/{b} is not a number") from None
    ship_type, imo = _number(fields, "type"), _number(fields, "imo")
    static = StaticReport(
        mmsi=int(mmsi),
        time=t,
        name=_text(_pick(fields, "name")),
        call_sign=_text(_pick(fields, "call_sign")),
        imo=int(imo) if imo else None,
        ship_type=int(ship_type) if ship_type and 0 < ship_type <= 99 else None,
        length_m=dims["length"] or None,
        beam_m=dims["beam"] or None,
        draught_m=_number(fields, "draught") or None,
        destination=_text(_pick(fields, "destination")),
    )
    if any(getattr(static, f) is not None for f in ("name", "call_sign", "imo", "ship_type", "length_m")):
        reports.append(static)
    if not reports:
        raise Rejected("no_position", f"MMSI {int(mmsi)}: neither a position nor static data")
    return reports
