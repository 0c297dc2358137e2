"""AIS sentences as receivers write them, for the decoder and receiver-log tests: checksums computed,
payloads from pyais's own encoder, tag blocks from pyais's `TagBlock`."""

from __future__ import annotations

from typing import Any

from pyais import encode_dict
from pyais.messages import TagBlock
from pyais.util import compute_checksum

T = 1_767_243_600.0  # 2026-01-01 05:00:00 UTC
STATIC: dict[str, Any] = dict(  # a type 5 static and voyage report with every field set
    msg_type=5,
    mmsi=366_000_001,
    callsign="WXYZ1",
    shipname="OCEAN GRACE",
    ship_type=70,
    to_bow=150,
    to_stern=40,
    to_port=12,
    to_starboard=14,
    draught=9.8,
    destination="OAKLAND",
    imo=9_123_456,
)


def nmea(delimiter: str, body: str) -> str:
    """`body` as a sentence with its correct checksum (`!AIVDM,...*hh`, `$GPRMC,...*hh`)."""
    return f"{delimiter}{body}*{compute_checksum(delimiter + body):02X}"


def position(mmsi: int = 366_123_456, **fields: Any) -> str:
    """A type 1 position report sentence; `fields` change the defaults."""
    data = dict(
        msg_type=1, mmsi=mmsi, status=0, speed=12.3, lon=-122.12345, lat=36.71234, course=151.2, heading=151, second=34
    )
    data.update(fields)
    return str(encode_dict(data, sentence_type="VDM")[0])


def tag(**fields: str) -> str:
    """A tag block (`\\s:...,c:...*hh\\`) with `fields`."""
    return "\\" + TagBlock.create(**fields).decode() + "\\"
