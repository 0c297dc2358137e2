"""NMEA 0183 AIS lines (and JSON records) in, position and static reports out.

pyais parses sentences and decodes payloads; this module adds what a live feed needs around
it: multi-part assembly that notices lost fragments, the time of each report (tag block
`c:`, a leading log timestamp, or arrival time corrected by the report's UTC second), checks
that a payload is long enough for its type, and a count of every line it refuses, by reason.
Nothing here raises on bad input: a feed carries noise, and one bad line must not stop it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyais.exceptions import InvalidNMEAMessageException, UnknownMessageException
from pyais.messages import AISSentence, NMEASentenceFactory, TagBlock

from oceanwatch.metrics import AIS_REJECTS

log = logging.getLogger(__name__)

POSITION_TYPES = frozenset({1, 2, 3, 18, 19, 27})
STATIC_TYPES = frozenset({5, 19, 24})
# Shortest payload (bits) that still holds every field we read; shorter is a cut-off transmission.
MIN_BITS = {1: 168, 2: 168, 3: 168, 5: 420, 18: 168, 19: 312, 24: 160, 27: 96}
# Bit offset of the 8-bit ship type: read raw, because pyais folds "reserved" codes (76-78...)
# into one, and the platform's class mapping is per code.
SHIP_TYPE_BIT = {5: 232, 19: 263, 24: 40}
MAX_FRAGMENT_AGE_S = 60.0
LOGGED_PER_REASON = 5


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
        mmsi=int(msg.mmsi), time=t, latitude=float(lat), longitude=float(lon),
        sog_knots=None if speed is None or speed >= (63 if msg_type == 27 else 102.3) else float(speed),
        cog_deg=None if course is None or course >= (511 if msg_type == 27 else 360.0) else float(course),
        heading_deg=None if heading is None or heading >= 360 else float(heading),
        nav_status=None if status is None else int(status), msg_type=msg_type)


def _static(msg: Any, msg_type: int, t: float, ship_type: int | None) -> StaticReport:
    fields = {name: getattr(msg, name, None) for name in (
        "shipname", "callsign", "imo", "to_bow", "to_stern", "to_port", "to_starboard", "draught", "destination")}
    return StaticReport(
        mmsi=int(msg.mmsi), time=t, name=_text(fields["shipname"]), call_sign=_text(fields["callsign"]),
        imo=int(fields["imo"]) if fields["imo"] else None,
        ship_type=ship_type if ship_type is not None and 0 < ship_type <= 99 else None,
        length_m=_dimension(fields["to_bow"], fields["to_stern"]),
        beam_m=_dimension(fields["to_port"], fields["to_starboard"]),
        draught_m=float(fields["draught"]) if fields["draught"] else None,
        destination=_text(fields["destination"]))


class AisDecoder:
    """Turns a stream of lines into reports, keeping per-reason counts of what it refused.

    `rejected` counts lines that are broken (bad checksum, garbage, truncated, unknown type,
    lost fragments...); `ignored` counts valid AIS messages of types this platform does not
    store (base stations, safety text, aids to navigation...); `accepted` counts reports out.
    """

    def __init__(self, max_fragment_age_s: float = MAX_FRAGMENT_AGE_S) -> None:
        self.max_fragment_age_s = max_fragment_age_s
        self.rejected: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self._fragments: dict[tuple[Any, ...], tuple[float, list[AISSentence]]] = {}
        self._tag_cache: dict[bytes, tuple[float | None, str | None]] = {}

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
        stamp = None
        if raw[:1] not in (b"!", b"$", b"\\"):
            # "<time> !AIVDM..." as many loggers write; anything else before the sentence is garbage.
            start = min((i for i in (raw.find(b"!"), raw.find(b"\\")) if i > 0), default=-1)
            if start < 0:
                raise Rejected("garbage", "no NMEA sentence")
            try:
                stamp = parse_log_time(raw[:start].decode("ascii").strip(" ,;\t"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise Rejected("garbage", f"text before the sentence is not a time ({exc})") from None
            raw = raw[start:]
        if raw[:1] == b"\\" and raw.find(b"\\", 1) < 0:
            raise Rejected("truncated", "tag block without its end")
        try:
            sentence = NMEASentenceFactory.produce(raw)
        except UnknownMessageException:
            body = raw[raw.find(b"\\", 1) + 1:] if raw[:1] == b"\\" else raw
            if body[:1] not in (b"$", b"!"):
                raise Rejected("garbage", "not an NMEA sentence") from None
            if b"*" not in body:
                raise Rejected("truncated", "no checksum") from None
            raise Rejected("unsupported_sentence", body[:6].decode("ascii", "replace")) from None
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
        station = None
        if sentence.tag_block is not None:
            tag_stamp, station = self._tag_info(sentence.tag_block)
            stamp = tag_stamp if tag_stamp is not None else stamp
        complete = self._assemble(sentence, station, received_at)
        if complete is None:
            return []
        return self._decode(complete, stamp, received_at)

    def _tag_info(self, tag: TagBlock) -> tuple[float | None, str | None]:
        """Receiver time and station of a tag block (cached: a receiver stamps many sentences alike)."""
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
        info = self._tag_cache[tag.raw] = (stamp, tag.source_station)
        return info

    def _assemble(self, sentence: AISSentence, station: str | None, received_at: float) -> AISSentence | None:
        """The whole message once its last fragment arrives; lost or stray fragments are counted.

        Fragments belong together by sequence id, channel and talker, and by receiving station
        when tag blocks name it: a feed merged from several receivers reuses the ten ids a lot.
        """
        if self._fragments:
            self._expire(received_at)
        if sentence.frag_cnt == 1:
            return sentence
        key = (station, sentence.seq_id, sentence.channel, sentence.talker_id, sentence.frag_cnt)
        if sentence.frag_num == 1:
            if key in self._fragments:
                self._reject("incomplete_multipart", "superseded before its last fragment", sentence.raw)
            self._fragments[key] = (received_at, [sentence])
            return None
        pending = self._fragments.get(key)
        if pending is None or len(pending[1]) != sentence.frag_num - 1:
            raise Rejected("orphan_fragment", f"fragment {sentence.frag_num}/{sentence.frag_cnt} without its start")
        pending[1].append(sentence)
        if sentence.frag_num < sentence.frag_cnt:
            return None
        del self._fragments[key]
        return AISSentence.assemble_from_iterable(pending[1])

    def _expire(self, now: float) -> None:
        for key in [k for k, (t, _) in self._fragments.items() if now - t > self.max_fragment_age_s]:
            _, parts = self._fragments.pop(key)
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
        t = stamp if stamp is not None else report_time(received_at, getattr(msg, "second", None))
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
        """Reports from one JSON object of an HTTP API: raw NMEA under `nmea`/`sentence`, or fields.

        Field names are matched case-insensitively, with the spellings common AIS APIs use
        (AISHub's MMSI/LATITUDE/SOG/NAVSTAT/A-D, or latitude/longitude/speed/course...).
        """
        try:
            if not isinstance(record, Mapping):
                raise Rejected("bad_record", f"expected an object, got {type(record).__name__}")
            fields = {str(k).lower(): v for k, v in record.items()}
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


_NAMES = {
    "mmsi": ("mmsi", "userid", "mmsi_number"),
    "time": ("time", "timestamp", "ts", "time_utc", "received", "msgtime", "last_position_utc"),
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


def _record_reports(fields: Mapping[str, Any], received_at: float) -> list[Report]:
    mmsi = _number(fields, "mmsi")
    if mmsi is None or not 0 < mmsi <= 999_999_999 or mmsi != int(mmsi):
        raise Rejected("invalid_mmsi", repr(_pick(fields, "mmsi")))
    raw_time = _pick(fields, "time")
    try:
        t = received_at if raw_time is None else parse_log_time(str(raw_time))
    except ValueError:
        raise Rejected("bad_record", f"time {raw_time!r}") from None
    reports: list[Report] = []
    lat, lon = _number(fields, "lat"), _number(fields, "lon")
    if lat is not None and lon is not None and not (lat == 91.0 or lon == 181.0):
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise Rejected("invalid_position", f"MMSI {int(mmsi)} at {lat}, {lon}")
        status = _number(fields, "status")
        reports.append(PositionReport(
            mmsi=int(mmsi), time=t, latitude=lat, longitude=lon, sog_knots=_number(fields, "sog", 102.3),
            cog_deg=_number(fields, "cog", 360.0), heading_deg=_number(fields, "heading", 360.0),
            nav_status=None if status is None else int(status), msg_type=int(_number(fields, "msg_type") or 1)))
    dims = {k: _number(fields, k) for k in ("length", "beam")}
    for key, a, b in (("length", "a", "b"), ("beam", "c", "d")):  # AISHub: distances from the antenna
        if dims[key] is None and fields.get(a) is not None and fields.get(b) is not None:
            try:
                dims[key] = _dimension(float(fields[a]), float(fields[b]))
            except (TypeError, ValueError):
                raise Rejected("bad_record", f"dimension {a}/{b} is not a number") from None
    ship_type, imo = _number(fields, "type"), _number(fields, "imo")
    static = StaticReport(
        mmsi=int(mmsi), time=t, name=_text(_pick(fields, "name")), call_sign=_text(_pick(fields, "call_sign")),
        imo=int(imo) if imo else None, ship_type=int(ship_type) if ship_type and 0 < ship_type <= 99 else None,
        length_m=dims["length"] or None, beam_m=dims["beam"] or None,
        draught_m=_number(fields, "draught") or None, destination=_text(_pick(fields, "destination")))
    if any(getattr(static, f) is not None for f in ("name", "call_sign", "imo", "ship_type", "length_m")):
        reports.append(static)
    if not reports:
        raise Rejected("no_position", f"MMSI {int(mmsi)}: neither a position nor static data")
    return reports
