"""Synthetic hydrophone audio: ambient ocean noise plus radiated noise of the ships in range.

Pure functions of their inputs (and the random generator passed in), so the audio simulator,
tests and training-set builders share one model of what a hydrophone hears:

- ambient noise: a Wenz-like spectrum (turbulence, distant shipping, wind/sea state), with
  clicks and occasional biological sweeps as transients;
- each vessel: broadband cavitation noise amplitude-modulated at the propeller blade rate, plus
  blade-rate harmonics and machinery tonals, with levels set by its kind, length and speed;
- propagation: spherical spreading to `TRANSITION_RANGE_M`, cylindrical beyond, plus Thorp
  absorption, all frequency dependent.

Everything is built in the frequency domain and turned into audio with a single inverse FFT,
which keeps 30 s at 8 kHz with a few ships to a few milliseconds.  Pressures are in µPa; audio
value 1.0 is `FULL_SCALE_DB` dB re 1 µPa.

Classes must be learnable but not trivially: kinds of different classes overlap in size and
speed, per-vessel levels and frequencies are jittered, sailing yachts are often under sail
(nearly silent), and range, ambient level and transients all vary, so a distant ship can sink
into the noise and a near small craft can sound like a working boat.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from oceanwatch.geo import KNOT_MPS, Site, distance_m
from oceanwatch.sim.scenario import VESSEL_KINDS, Scenario, VesselKind
from oceanwatch.truth.shipclasses import BACKGROUND_CLASS, default_class

FULL_SCALE_DB = 160.0
"""Pressure (dB re 1 µPa) of audio value 1.0: a -160 dB re 1 V/µPa sensor into a ±1 V converter."""
AUDIO_PER_UPA = 10 ** (-FULL_SCALE_DB / 20)
TRANSITION_RANGE_M = 1000.0
"""Range where spreading turns from spherical to cylindrical (about the water depth of a shelf site)."""
BOUNDARY_LOSS_DB_PER_KM = 0.3
"""Bottom and surface losses of the trapped field beyond `TRANSITION_RANGE_M` (the shallow-water term of
Marsh-Schulkin): what makes a ship at 40 km clearly fainter than one at 20 km, not just 3 dB."""
HIGHPASS_HZ = 8.0
"""Corner of the recording chain's high-pass filter."""
AUDIBLE_RANGE_M = 50_000.0
"""Vessels farther than this are left out of the synthesis (they are below the ambient anyway)."""


# ----------------------------------------------------------------------------------------------
# Propagation
# ----------------------------------------------------------------------------------------------


def thorp_db_per_km(freq_hz: np.ndarray) -> np.ndarray:
    """Thorp's absorption coefficient (dB/km) of sea water at `freq_hz`."""
    f2 = (np.asarray(freq_hz, dtype=float) / 1000.0) ** 2
    db_per_kyd = 0.11 * f2 / (1 + f2) + 44 * f2 / (4100 + f2) + 2.75e-4 * f2 + 0.003
    return db_per_kyd * 1.0936


def range_loss_db(range_m: float) -> float:
    """Frequency-independent loss (dB) from 1 m to `range_m`: spherical spreading to `TRANSITION_RANGE_M`, then
    cylindrical spreading plus boundary losses."""
    r = max(float(range_m), 1.0)
    if r <= TRANSITION_RANGE_M:
        return 20 * math.log10(r)
    return (
        20 * math.log10(TRANSITION_RANGE_M)
        + 10 * math.log10(r / TRANSITION_RANGE_M)
        + BOUNDARY_LOSS_DB_PER_KM * (r - TRANSITION_RANGE_M) / 1000.0
    )


def transmission_loss_db(range_m: float, freq_hz: np.ndarray) -> np.ndarray:
    """One-way loss (dB) from 1 m to `range_m` at `freq_hz`: spreading plus Thorp absorption."""
    return range_loss_db(range_m) + thorp_db_per_km(freq_hz) * max(float(range_m), 1.0) / 1000.0


# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A vessel as the hydrophone hears it: its kind (a `VESSEL_KINDS` name), size, speed and range."""

    kind: str
    length_m: float
    speed_knots: float
    range_m: float


@dataclass(frozen=True)
class KindAcoustics:
    """How a kind of vessel sounds, beyond what its length and speed already set.

    `broadband_db` shifts the cavitation level (quieted warships are far below merchant ships
    of their size, small fast craft are loud for their size); `electric_share` of vessels
    carry generator lines at `electric_hz` harmonics, `electric_db` stronger on diesel-electric
    passenger ships; `engine_hz` is the range of the main machinery line (slow two-stroke
    diesels fire at a few Hz, outboards at hundreds); `tonal_db` is how strong tonals stand
    above the broadband; `silent_fraction` of vessels make no propulsion noise (under sail).
    """

    blades: tuple[int, int]
    broadband_db: float
    engine_hz: tuple[float, float]
    engine_harmonics: int
    tonal_db: float
    electric_hz: float | None = None
    electric_share: float = 0.0
    electric_db: float = 0.0
    silent_fraction: float = 0.0


KIND_ACOUSTICS: dict[str, KindAcoustics] = {
    "cargo": KindAcoustics((4, 6), 0.0, (6.0, 14.0), 8, 2.0, 60.0, 0.15, electric_db=-6.0),
    "tanker": KindAcoustics((4, 5), -2.0, (5.0, 12.0), 8, 1.0, 60.0, 0.15, electric_db=-6.0),
    "passenger": KindAcoustics((4, 5), -3.0, (20.0, 45.0), 4, 4.0, 60.0, 1.0, electric_db=10.0),
    "military": KindAcoustics((5, 7), -12.0, (8.0, 20.0), 4, -6.0),
    "fishing": KindAcoustics((3, 4), 12.0, (15.0, 35.0), 8, 8.0, 50.0, 0.6),
    "tug": KindAcoustics((4, 5), 13.0, (15.0, 35.0), 8, 8.0, 50.0, 0.6),
    "working": KindAcoustics((3, 5), 11.0, (18.0, 40.0), 8, 7.0, 50.0, 0.6),
    "pleasure": KindAcoustics((3, 4), 13.0, (70.0, 200.0), 3, 3.0),
    "sailing": KindAcoustics((2, 3), 9.0, (50.0, 110.0), 3, 2.0, silent_fraction=0.25),
    "pilot": KindAcoustics((4, 5), 13.0, (60.0, 150.0), 3, 3.0),
    "diving": KindAcoustics((3, 3), 10.0, (60.0, 160.0), 3, 2.0),
}


@dataclass(frozen=True)
class Signature:
    """The radiated noise of one vessel at 1 m: what stays the same while it transits.

    `broadband_db` is the cavitation spectral level at `peak_hz` (dB re 1 µPa²/Hz at 1 m);
    `tonals` are (frequency Hz, level dB re 1 µPa² at 1 m) lines.
    """

    broadband_db: float
    peak_hz: float
    blade_rate_hz: float
    modulation: float
    tonals: tuple[tuple[float, float], ...]


def kind_named(name: str) -> VesselKind:
    for kind in VESSEL_KINDS:
        if kind.name == name:
            return kind
    raise ValueError(f"unknown vessel kind {name!r}; known: {[k.name for k in VESSEL_KINDS]}")


def kind_class(kind: VesselKind) -> str:
    """The default ship class of a kind (A-D), from its AIS ship types."""
    code = default_class(kind.ship_types[0])
    if code is None:
        raise ValueError(f"kind {kind.name} has no default class")
    return code


def signature(kind: str, length_m: float, speed_knots: float, rng: np.random.Generator) -> Signature:
    """Draw one vessel's radiated-noise signature from its kind, length and speed.

    Propeller: diameter ~3.5 % of length, pitch ratio 0.7-1.3, so shaft rate is speed over
    pitch (a 300 m ship at 15 kn turns ~1.3 Hz, a 10 m launch ~25 Hz).  Broadband level grows
    40 log10 of speed and 10 log10 of length (gentler than Ross: machinery keeps slow boats
    audible) from 152 dB re 1 µPa²/Hz at 1 m for a 100 m ship at 12 kn (measured merchant ships sit
    around 150-160 at their low-frequency peak); its peak moves down with size.
    """
    acoustics = KIND_ACOUSTICS.get(kind)
    if acoustics is None:
        raise ValueError(f"unknown vessel kind {kind!r}; known: {sorted(KIND_ACOUSTICS)}")
    length = max(float(length_m), 3.0)
    speed_mps = max(float(speed_knots), 0.5) * KNOT_MPS
    diameter = 0.035 * length * rng.uniform(0.8, 1.25)
    shaft_hz = speed_mps / (diameter * rng.uniform(0.7, 1.3))
    blades = int(rng.integers(acoustics.blades[0], acoustics.blades[1] + 1))
    blade_rate = shaft_hz * blades
    level = (
        152.0
        + 40 * math.log10(max(speed_knots, 0.5) / 12.0)
        + 10 * math.log10(length / 100.0)
        + acoustics.broadband_db
        + rng.normal(0.0, 3.0)
    )
    peak = 60.0 * math.sqrt(100.0 / length) * (max(speed_knots, 0.5) / 12.0) ** 0.3 * rng.uniform(0.7, 1.4)
    if rng.random() < acoustics.silent_fraction:
        return Signature(level - 35.0, peak, blade_rate, 0.0, ())
    tone_base = level + 15.0 + acoustics.tonal_db + rng.normal(0.0, 3.0)
    tonals = [(blade_rate * h, tone_base + 3.0 - 5.0 * h) for h in range(1, 5)]
    engine = rng.uniform(*acoustics.engine_hz)
    tonals += [
        (engine * h, tone_base - 2.0 - 3.0 * h + rng.normal(0.0, 2.0)) for h in range(1, acoustics.engine_harmonics + 1)
    ]
    if acoustics.electric_hz is not None and rng.random() < acoustics.electric_share:
        tonals += [(acoustics.electric_hz * h, tone_base - 8.0 + acoustics.electric_db - 3.0 * h) for h in range(1, 6)]
    return Signature(level, peak, blade_rate, float(rng.uniform(0.2, 0.6)), tuple(tonals))


# ----------------------------------------------------------------------------------------------
# Ambient
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ambient:
    """Ambient conditions: wind speed (knots) and distant-shipping density (0 = remote, 1 = busy)."""

    wind_knots: float = 10.0
    shipping: float = 0.5


def ambient_psd_db(ambient: Ambient, freq_hz: np.ndarray) -> np.ndarray:
    """Wenz-like ambient spectral level (dB re 1 µPa²/Hz): turbulence + distant shipping + wind."""
    f = np.maximum(np.asarray(freq_hz, dtype=float), 1.0)
    turbulence = 107.0 - 30.0 * np.log10(f)
    ship_level = 58.0 + 22.0 * float(np.clip(ambient.shipping, 0.0, 1.0))
    shipping = ship_level - 10 * np.log10(1 + (25.0 / f) ** 4) - 20 * np.log10(1 + f / 120.0)
    wind_1k = 40.0 + 22.0 * math.log10(1.0 + max(ambient.wind_knots, 0.0) / 2.0)
    wind = wind_1k + 17.0 * np.log10(1300.0 / (f + 300.0))
    return 10 * np.log10(10 ** (turbulence / 10) + 10 ** (shipping / 10) + 10 ** (wind / 10))


def random_ambient(rng: np.random.Generator) -> Ambient:
    return Ambient(wind_knots=float(rng.uniform(0.0, 20.0)), shipping=float(rng.uniform(0.0, 1.0)))


def scenario_ambient(scenario: Scenario, t: float) -> Ambient:
    """Ambient conditions of a scenario at epoch second `t`: slow seeded weather, the same for every caller."""
    phases = np.random.default_rng([scenario.seed, 7919]).uniform(0, 2 * math.pi, 3)
    wind = (
        12.0
        + 7.0 * math.sin(2 * math.pi * t / 21_600 + phases[0])
        + 3.0 * math.sin(2 * math.pi * t / 2_220 + phases[1])
    )
    shipping = 0.5 + 0.3 * math.sin(2 * math.pi * t / 43_200 + phases[2])
    return Ambient(max(wind, 0.0), shipping)


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _frequencies(n: int, sample_rate: int) -> np.ndarray:
    return np.fft.rfftfreq(n, 1.0 / sample_rate)


def _add_tonals(
    spectrum: np.ndarray, tonals: Iterable[tuple[float, float]], n: int, sample_rate: int, rng: np.random.Generator
) -> None:
    """Add narrow lines of power 10**(dB/10) µPa², each spread over a few bins (a real line wanders)."""
    bin_hz = sample_rate / n
    nyquist_bin = spectrum.size - 1
    for freq, level_db in tonals:
        centre = freq / bin_hz
        if not 1 <= centre < nyquist_bin - 3:
            continue
        width = max(1.0, 0.002 * freq / bin_hz)
        lo, hi = max(1, int(centre - 3 * width)), min(nyquist_bin, int(centre + 3 * width) + 2)
        bins = np.arange(lo, hi)
        weights = np.exp(-0.5 * ((bins - centre) / width) ** 2)
        weights /= np.sqrt(np.sum(weights**2))
        amplitude = math.sqrt(2 * 10 ** (level_db / 10)) * AUDIO_PER_UPA * n / 2
        spectrum[lo:hi] += amplitude * weights * np.exp(2j * np.pi * rng.random(bins.size))


def _add_sidebands(spectrum: np.ndarray, carrier: np.ndarray, shift_bins: int, depth: float, phase: float) -> None:
    """Add the sidebands of carrier(t) * (1 + depth cos(2π f_m t + phase)), f_m = `shift_bins` bins.

    This is the blade-rate envelope of cavitation noise (what DEMON analysis detects); the
    carrier itself is already in `spectrum`.
    """
    if shift_bins <= 0 or depth <= 0 or shift_bins >= spectrum.size:
        return
    up = depth / 2 * np.exp(1j * phase)
    spectrum[shift_bins:] += up * carrier[:-shift_bins]
    spectrum[:-shift_bins] += np.conj(up) * carrier[shift_bins:]


COARSE_BINS = 1024
"""Smooth spectra (ambient, cavitation, losses) are evaluated on this many frequencies and interpolated."""


@lru_cache(maxsize=8)
def _coarse_grid(n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coarse frequencies, their high-pass dB, their absorption dB/m) for an n-sample render."""
    nyquist = sample_rate / 2
    coarse = np.linspace(0.0, nyquist, min(COARSE_BINS, n // 2 + 1))
    ratio = np.maximum(coarse, 1e-3) / HIGHPASS_HZ
    return coarse, 10 * np.log10(ratio**8 / (1 + ratio**8)), thorp_db_per_km(coarse) / 1000.0


def _cavitation_shape_db(freqs: np.ndarray, peak_hz: float) -> np.ndarray:
    """Cavitation spectrum relative to its peak: rising below `peak_hz`, falling ~20 dB/decade above."""
    ratio = np.maximum(freqs, 1e-3) / peak_hz
    return 10 * np.log10(ratio**2 / (1 + ratio**2)) - 20 * np.log10(1 + ratio / 4)


def render(
    sources: Sequence[tuple[Signature, float]],
    ambient: Ambient,
    seconds: float,
    sample_rate: int,
    rng: np.random.Generator,
    transients: bool = True,
) -> np.ndarray:
    """Audio of `sources` (signature, range m) over `ambient`: one Gaussian draw, one inverse FFT.

    Independent Gaussian noises add to one Gaussian noise whose PSD is the sum of theirs, so
    ambient and every ship's cavitation share one draw; each audible ship's blade-rate
    sidebands are shifted copies of its own part of it.  Smooth spectra are computed on a
    coarse grid and interpolated, which is what makes a render cost milliseconds.
    """
    n = int(round(seconds * sample_rate))
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    freqs = _frequencies(n, sample_rate)
    coarse, highpass, absorption = _coarse_grid(n, sample_rate)
    ambient_power = 10 ** ((ambient_psd_db(ambient, coarse) + highpass) / 10)  # µPa²/Hz at the hydrophone
    power = ambient_power.copy()
    audible = []
    for sig, range_m in sources:
        psd = 10 ** (
            (
                sig.broadband_db
                + _cavitation_shape_db(coarse, sig.peak_hz)
                + highpass
                - range_loss_db(range_m)
                - absorption * max(range_m, 1.0)
            )
            / 10
        )
        power += psd
        if sig.modulation > 0 and np.max(psd / ambient_power) > 0.1:  # sidebands of inaudible ships change nothing
            audible.append((psd, sig))
    noise = rng.standard_normal((2, freqs.size), dtype=np.float32)
    noise = noise[0] + np.complex64(1j) * noise[1]
    spectrum = noise * np.sqrt(np.interp(freqs, coarse, power)).astype(np.float32)
    for psd, sig in audible:
        carrier = noise * np.sqrt(np.interp(freqs, coarse, psd)).astype(np.float32)
        _add_sidebands(
            spectrum,
            carrier,
            int(round(sig.blade_rate_hz * n / sample_rate)),
            sig.modulation,
            float(rng.uniform(0, 2 * np.pi)),
        )
    spectrum *= np.float32(math.sqrt(sample_rate * n) / 2 * AUDIO_PER_UPA)  # PSD -> rfft coefficients
    for sig, range_m in sources:
        if sig.tonals:
            tone_freqs = np.array([f for f, _ in sig.tonals])
            tone_loss = transmission_loss_db(range_m, tone_freqs)
            _add_tonals(spectrum, [(f, lvl - tl) for (f, lvl), tl in zip(sig.tonals, tone_loss)], n, sample_rate, rng)
    spectrum[0] = 0.0
    audio = np.fft.irfft(spectrum, n=n)
    if transients:
        _add_transients(audio, sample_rate, rng)
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


def _add_transients(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> None:
    """Snapping-shrimp-like clicks (Poisson, heavy-tailed amplitudes) and, sometimes, a baleen-whale-like downsweep."""
    n = audio.size
    seconds = n / sample_rate
    floor = float(np.sqrt(np.mean(audio**2))) or 1e-6
    count = int(rng.poisson(rng.uniform(0.0, 8.0) * seconds))
    if count:
        at = rng.integers(0, n, count)
        audio[at] += floor * rng.pareto(2.5, count) * 6.0 * rng.choice((-1.0, 1.0), count)
    if rng.random() < 0.15 * seconds / 30.0:
        length = int(rng.uniform(0.8, 3.0) * sample_rate)
        if length < n:
            t = np.arange(length) / sample_rate
            f0, f1 = rng.uniform(60, 220), rng.uniform(15, 60)
            phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1]))
            start = int(rng.integers(0, n - length))
            audio[start : start + length] += floor * rng.uniform(1.0, 8.0) * np.sin(phase) * np.hanning(length)


def render_sources(
    sources: Sequence[Source | tuple[str, float, float, float]],
    seconds: float,
    sample_rate: int,
    rng: np.random.Generator,
    ambient: Ambient | None = None,
    transients: bool = True,
) -> np.ndarray:
    """Mono float32 audio of `sources` (kind, length m, speed kn, range m) heard over ambient noise.

    Each source gets a fresh signature drawn from `rng` (so two calls give two different ships
    of the same description); `ambient` None draws random wind and shipping from `rng`.
    """
    parsed = [s if isinstance(s, Source) else Source(*s) for s in sources]
    signatures = [(signature(s.kind, s.length_m, s.speed_knots, rng), s.range_m) for s in parsed]
    return render(signatures, ambient or random_ambient(rng), seconds, sample_rate, rng, transients)


def kinds_of_class(code: str) -> list[VesselKind]:
    return [k for k in VESSEL_KINDS if kind_class(k) == code]


def sample_source(
    code: str, rng: np.random.Generator, min_range_m: float = 300.0, max_range_m: float = 20_000.0
) -> Source:
    """A random vessel of ship class `code` (A-D) at a log-uniform range: a training-set building block."""
    kinds = kinds_of_class(code)
    if not kinds:
        raise ValueError(f"no vessel kind maps to class {code!r}")
    weights = np.array([k.weight for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    range_m = float(np.exp(rng.uniform(math.log(min_range_m), math.log(max_range_m))))
    return Source(kind.name, float(rng.uniform(*kind.length_m)), float(rng.uniform(*kind.speed_knots)), range_m)


def render_class(
    code: str, seconds: float, sample_rate: int, rng: np.random.Generator, max_range_m: float = 20_000.0
) -> np.ndarray:
    """Audio of one labelled example: one vessel of class `code`, or ambient only for the background class."""
    sources = [] if code == BACKGROUND_CLASS else [sample_source(code, rng, max_range_m=max_range_m)]
    return render_sources(sources, seconds, sample_rate, rng)


def vessel_signature(scenario: Scenario, mmsi: int, kind: str, length_m: float, speed_knots: float) -> Signature:
    """The signature of a scenario vessel: seeded by (scenario seed, MMSI), so it sounds the same all transit."""
    return signature(kind, length_m, speed_knots, np.random.default_rng([scenario.seed, mmsi]))


def synthesize(
    scenario: Scenario,
    hydrophone_lat: float,
    hydrophone_lon: float,
    start: dt.datetime,
    seconds: float,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mono float32 audio a hydrophone at (lat, lon) records from `start` for `seconds`.

    Ships are the scenario's (the same ones its AIS simulator reports), at their range at the
    middle of the span; ambient follows the scenario's seeded weather.  `rng` only draws the
    noise itself: the same seed and time always give the same ships at the same levels.
    """
    if start.tzinfo is None:
        raise ValueError("start must be time-zone aware (UTC)")
    t0 = start.timestamp()
    mid = t0 + seconds / 2
    site = Site("", hydrophone_lat, hydrophone_lon)
    heard: list[tuple[Signature, float]] = []
    for vessel in scenario.vessels_between(t0, t0 + seconds):
        lat, lon = vessel.track(np.array([mid]))
        range_m = float(distance_m(site, lat, lon)[0])
        if range_m <= AUDIBLE_RANGE_M:
            heard.append(
                (vessel_signature(scenario, vessel.mmsi, vessel.kind, vessel.length_m, vessel.speed_knots), range_m)
            )
    return render(heard, scenario_ambient(scenario, mid), seconds, sample_rate, rng)
