"""NMEA 0183 `!AIVDM` sentences for the seeded scenario: what a shore receiver near the hydrophone logs.

The reports are a pure function of the scenario and a time range, so any period comes out the
same every time (tests compare decoded reports with `SimVessel.state`, and the audio simulator
hears the same ships).  Rates follow ITU-R M.1371 for ships that are under way:

- class A position (types 1/2/3): every 10 s up to 14 kn, 6 s up to 23 kn, 2 s above;
- class B "CS" position (type 18): every 30 s;
- static data (type 5 for class A, two sentences; types 24 A and B for class B): every 6 minutes.

Each vessel's reports fall on whole seconds, with a per-vessel phase so transmitters do not all
speak at once.  Every sentence carries an NMEA 4.10 tag block with the receiver station and
UNIX time (`\\s:...,c:...*hh\\`), as networked receivers log them, so a replay keeps exact times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pyais import encode_dict
from pyais.encode import ais_to_nmea_0183, data_to_payload
from pyais.messages import TagBlock

from oceanwatch.config import get_settings
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.scenario import Scenario, SimVessel, scenario_from_settings

AisFields = dict[str, str | int | float | bytes | bool]
"""The field values pyais encodes (its `encode_dict` argument)."""

STATIC_INTERVAL_S = 360
CLASS_B_INTERVAL_S = 30
DEFAULT_STATION = "oceanwatch-sim"
SHIP_TYPE_BIT = {5: 232, 24: 40}  # where the 8-bit ship type sits in type 5 and type 24 part B payloads


def class_a_interval_s(speed_knots: float) -> int:
    """Reporting interval of a class A ship under way at `speed_knots` (ITU-R M.1371, not turning)."""
    if speed_knots > 23.0:
        return 2
    if speed_knots > 14.0:
        return 6
    return 10


def position_interval_s(vessel: SimVessel) -> int:
    return class_a_interval_s(vessel.speed_knots) if vessel.ais_class == "A" else CLASS_B_INTERVAL_S


def _unarmor(payload: str) -> int:
    value = 0
    for char in payload:
        six = ord(char) - 48
        value = (value << 6) | (six - 8 if six > 40 else six)
    return value


def _armor(value: int, chars: int) -> str:
    out = []
    for i in range(chars - 1, -1, -1):
        six = (value >> (6 * i)) & 63
        out.append(chr(six + 48 if six < 40 else six + 56))
    return "".join(out)


def encode_static(data: AisFields, channel: str, seq_id: int | None = None) -> list[str]:
    """`encode_dict` for types 5 and 24 B that keeps the exact ship type code.

    pyais folds codes it calls reserved (76-78, 86-88...) into their group's first code; the
    class mapping is per code, so the simulator writes the real 8 bits itself.
    """
    payload, fill_bits = data_to_payload(int(data["msg_type"]), data).encode()
    bits = len(payload) * 6
    start = SHIP_TYPE_BIT[int(data["msg_type"])]
    shift = bits - start - 8
    value = (_unarmor(payload) & ~(0xFF << shift)) | (int(data["ship_type"]) << shift)
    return ais_to_nmea_0183(_armor(value, len(payload)), "AI", "VDM", channel, fill_bits, seq_id=seq_id)


@dataclass(frozen=True)
class AisEvent:
    """One transmission: its time (whole UNIX seconds), who sent it, the AIS type and its sentences."""

    time: int
    mmsi: int
    msg_type: int
    sentences: tuple[str, ...]


def _grid(vessel: SimVessel, interval: int, salt: int, t0: float, t1: float) -> Iterator[tuple[int, int]]:
    """(report number, whole-second time) of `vessel`'s reports every `interval` s inside [t0, t1).

    The number counts from the vessel's first report, so it does not depend on the range asked for.
    """
    phase = (vessel.mmsi * 7919 + salt * 104729) % (interval * 1000) / 1000.0
    base = math.ceil(vessel.start_time + phase)
    lo = max(t0, vessel.start_time)
    hi = min(t1, math.floor(vessel.end_time) + 1)
    first = max(0, math.ceil((lo - base) / interval))
    for k in range(first, max(first, math.ceil((hi - base) / interval))):
        yield k, base + k * interval


class NmeaSimulator:
    """The AIS traffic of a `Scenario` as NMEA sentences; `station` names the receiver in tag blocks."""

    def __init__(self, scenario: Scenario, station: str = DEFAULT_STATION, tag_blocks: bool = True) -> None:
        self.scenario = scenario
        self.station = station
        self.tag_blocks = tag_blocks

    def events(self, t0: float, t1: float) -> list[AisEvent]:
        """Every transmission with t0 <= time < t1, in time order (ties by MMSI, then type)."""
        found: list[AisEvent] = []
        for vessel in self.scenario.vessels_between(t0, t1):
            for k, t in _grid(vessel, position_interval_s(vessel), 0, t0, t1):
                found.append(self._position(vessel, t, k))
            for _, t in _grid(vessel, STATIC_INTERVAL_S, 1, t0, t1):
                found.extend(self._static(vessel, t))
        found.sort(key=lambda e: (e.time, e.mmsi, e.msg_type))
        return found

    def sentences(self, t0: float, t1: float) -> Iterator[tuple[int, str]]:
        """(time, sentence) pairs of `events`, one per line as a receiver writes them."""
        for event in self.events(t0, t1):
            for sentence in event.sentences:
                yield event.time, sentence

    def _wrap(self, t: int, sentences: list[str]) -> tuple[str, ...]:
        if not self.tag_blocks:
            return tuple(sentences)
        fields: dict[str, Any] = {"source_station": self.station, "receiver_timestamp": str(t)}
        tag = TagBlock.create(**fields).decode("ascii")  # pyais annotates **fields as dicts: they are strings
        return tuple(f"\\{tag}\\{s}" for s in sentences)

    def _position(self, vessel: SimVessel, t: int, k: int) -> AisEvent:
        state = vessel.state(t)
        assert state is not None  # `_grid` keeps t inside the transit
        channel = "AB"[(vessel.mmsi + k) % 2]
        common: AisFields = dict(
            mmsi=vessel.mmsi,
            speed=state.sog_knots,
            lon=state.longitude,
            lat=state.latitude,
            course=round(state.cog_deg, 1) % 360.0,
            heading=int(state.heading_deg) % 360,
            second=t % 60,
            accuracy=True,
        )
        # `msg_type`, not `type`: pyais only writes types 2 and 3 into the payload when given so.
        if vessel.ais_class == "B":
            data: AisFields = dict(msg_type=18, cs=True, **common)
        else:
            # Mostly autonomous (1); some ships run an assigned schedule (2); now and then a
            # reply to a base-station interrogation (3).
            msg_type = 3 if k % 12 == 11 else (2 if vessel.mmsi % 4 == 3 else 1)
            data = dict(msg_type=msg_type, status=state.nav_status, turn=0.0, **common)
        return AisEvent(
            t,
            vessel.mmsi,
            int(data["msg_type"]),
            self._wrap(t, encode_dict(data, sentence_type="VDM", radio_channel=channel)),
        )

    def _static(self, vessel: SimVessel, t: int) -> list[AisEvent]:
        length, beam = round(vessel.length_m), round(vessel.beam_m)
        dims: AisFields = dict(
            to_bow=min(511, round(length * 0.8)),
            to_stern=min(511, length - round(length * 0.8)),
            to_port=min(63, beam // 2),
            to_starboard=min(63, beam - beam // 2),
        )
        channel = "AB"[(vessel.mmsi + t) % 2]
        if vessel.ais_class == "B":
            part_a: AisFields = dict(msg_type=24, partno=0, mmsi=vessel.mmsi, shipname=vessel.name)
            part_b: AisFields = dict(
                msg_type=24,
                partno=1,
                mmsi=vessel.mmsi,
                ship_type=vessel.ship_type,
                callsign=vessel.call_sign,
                vendorid="OWS",
                **dims,
            )
            return [
                AisEvent(
                    t, vessel.mmsi, 24, self._wrap(t, encode_dict(part_a, sentence_type="VDM", radio_channel=channel))
                ),
                AisEvent(t, vessel.mmsi, 24, self._wrap(t, encode_static(part_b, channel))),
            ]
        eta = dt.datetime.fromtimestamp(t, dt.timezone.utc) + dt.timedelta(hours=20)
        data: AisFields = dict(
            msg_type=5,
            mmsi=vessel.mmsi,
            ais_version=2,
            imo=vessel.imo or 0,
            callsign=vessel.call_sign,
            shipname=vessel.name,
            ship_type=vessel.ship_type,
            epfd=1,
            month=eta.month,
            day=eta.day,
            hour=eta.hour,
            minute=eta.minute,
            draught=min(25.5, vessel.draught_m),
            destination=vessel.destination,
            dte=False,
            **dims,
        )
        sentences = encode_static(data, channel, seq_id=(vessel.mmsi + t) % 10)
        return [AisEvent(t, vessel.mmsi, 5, self._wrap(t, sentences))]


def live_sentences(
    sim: NmeaSimulator,
    clock: SimClock,
    should_stop: Callable[[], bool],
    wait: Callable[[float], object] = time.sleep,
    start: float | None = None,
    step_s: float = 1.0,
    max_chunk_s: float = 60.0,
) -> Iterator[tuple[int, str]]:
    """Sentences as they happen on `clock` (real time, or `clock.speed` times faster), until stopped.

    Emission starts at simulated time `start` (default: now) and never runs ahead of the clock;
    each pass emits whatever fell due since the last, so a slow consumer catches up rather than
    skipping reports.  Catching up goes `max_chunk_s` simulated seconds at a time, so the first
    sentences come at once and a stop is noticed.  `wait(seconds)` sleeps (a stop flag's wait
    stops promptly).
    """
    cursor = clock.now() if start is None else start
    while not should_stop():
        now = clock.now()
        if now > cursor:
            upto = min(now, cursor + max_chunk_s)
            yield from sim.sentences(cursor, upto)
            cursor = upto
            if cursor < now:
                continue
        wait(max(0.0, clock.wall_time(cursor + step_s) - time.time()))


def main(argv: list[str] | None = None) -> int:
    """`python -m oceanwatch.sim.nmea`: write a period of traffic as an NMEA log, or send it live over UDP.

    The world is the configured one (SCENARIO_SEED, SCENARIO_VESSELS_PER_HOUR, HYDROPHONE_*), so a
    log written here and the ais_stream simulator source describe the same ships.
    """
    parser = argparse.ArgumentParser(prog="python -m oceanwatch.sim.nmea", description=main.__doc__)
    parser.add_argument("--start", help="ISO time the log starts (UTC if no zone); default: the last --minutes")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the log")
    parser.add_argument("--out", help="log file (default: standard output)")
    parser.add_argument("--udp", metavar="HOST:PORT", help="instead of a log, send sentences live as datagrams")
    parser.add_argument("--no-tag-blocks", action="store_true", help="plain sentences, without receiver times")
    args = parser.parse_args(argv)
    settings = get_settings()
    scenario = scenario_from_settings(settings)
    sim = NmeaSimulator(scenario, tag_blocks=not args.no_tag_blocks)
    clock = SimClock.from_settings(settings.simulator.anchor, settings.simulator.speed)
    if args.udp:
        host, port = args.udp.rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                for _, sentence in live_sentences(sim, clock, lambda: False):
                    sock.sendto(sentence.encode("ascii") + b"\r\n", (host, int(port)))
            except KeyboardInterrupt:
                pass
        return 0
    if args.start:
        start = dt.datetime.fromisoformat(args.start)
        t0 = (start if start.tzinfo else start.replace(tzinfo=dt.timezone.utc)).timestamp()
    else:
        t0 = clock.now() - args.minutes * 60.0
    out = open(args.out, "w", encoding="ascii") if args.out else sys.stdout
    try:
        for _, sentence in sim.sentences(t0, t0 + args.minutes * 60.0):
            out.write(sentence + "\n")
    finally:
        if args.out:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
