"""Kafka message shapes and their codec (msgpack: compact, binary-safe for spectrograms).

Each message is a frozen dataclass; `encode`/`decode` turn it into bytes and back.  Times
are UTC epoch milliseconds (integers: exact, sortable, no time-zone parsing).  Arrays travel
as raw bytes with dtype and shape, so a 160x128 float16 spectrogram costs 40 kB, not 400.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgpack
import numpy as np

SCHEMA_VERSION = 1
M = TypeVar("M", bound="_Message")


def to_epoch_ms(t: dt.datetime) -> int:
    """UTC epoch milliseconds of an aware datetime (naive datetimes are refused: ambiguous)."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone (UTC) first")
    return int(round(t.timestamp() * 1000))


def from_epoch_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


@dataclass(frozen=True)
class PackedArray:
    """An ndarray as bytes + dtype + shape (what goes on the wire and into `spectrograms`)."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes

    @classmethod
    def pack(cls, array: np.ndarray, dtype: str | None = None) -> "PackedArray":
        arr = np.ascontiguousarray(array, dtype=dtype or array.dtype)
        return cls(arr.dtype.str, tuple(int(n) for n in arr.shape), arr.tobytes())

    def unpack(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape)


class _Message:
    """Shared codec: dataclass fields to a msgpack map with a schema version."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": SCHEMA_VERSION}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            out[f.name] = _plain(getattr(self, f.name))
        return out

    def encode(self) -> bytes:
        return msgpack.packb(self.to_dict(), use_bin_type=True)

    @classmethod
    def decode(cls: type[M], payload: bytes) -> M:
        raw = msgpack.unpackb(payload, raw=False)
        if not isinstance(raw, dict) or raw.get("v") != SCHEMA_VERSION:
            raise ValueError(f"not a v{SCHEMA_VERSION} {cls.__name__}")
        raw.pop("v")
        return cls._from_dict(raw)

    @classmethod
    def _from_dict(cls: type[M], raw: dict[str, Any]) -> M:
        return cls(**raw)


def _plain(value: Any) -> Any:
    if isinstance(value, PackedArray):
        return {"dtype": value.dtype, "shape": list(value.shape), "data": value.data}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class WindowMessage(_Message):
    """A window stored in Postgres, with its features per feature-spec hash (topic acoustic.windows)."""

    window_id: int
    hydrophone_id: str
    start_ms: int
    end_ms: int
    sample_rate: int
    channels: int
    clip_path: str | None
    features: dict[str, PackedArray] = field(default_factory=dict)

    @classmethod
    def _from_dict(cls, raw: dict[str, Any]) -> "WindowMessage":
        feats = {k: PackedArray(v["dtype"], tuple(v["shape"]), v["data"]) for k, v in raw.pop("features").items()}
        return cls(features=feats, **raw)

    @classmethod
    def from_stored(cls, window: Any, features: dict[str, PackedArray]) -> "WindowMessage":
        """The message of a window already in Postgres: `window` is its `windows` row (an ORM object or
        a result row with those columns), so ingest's outbox and the predict stream's reconciler send
        and read the same message."""
        return cls(
            window_id=window.id,
            hydrophone_id=window.hydrophone_id,
            start_ms=to_epoch_ms(window.start_time),
            end_ms=to_epoch_ms(window.end_time),
            sample_rate=window.sample_rate,
            channels=window.channels,
            clip_path=window.clip_path,
            features=features,
        )


@dataclass(frozen=True)
class PositionMessage(_Message):
    """A decoded AIS position report (topic ais.positions, keyed by MMSI)."""

    mmsi: int
    time_ms: int
    latitude: float
    longitude: float
    sog_knots: float | None
    cog_deg: float | None
    heading_deg: float | None
    nav_status: int | None
    msg_type: int
    source: str
    ship_type: int | None = None
    distances_m: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictionMessage(_Message):
    """One model's output for one window (topic predictions, keyed by hydrophone)."""

    window_id: int
    model_id: int
    hydrophone_id: str
    start_ms: int
    class_names: list[str]
    probabilities: list[float]
    predicted: list[str]
    confidence: float
    entropy: float | None
    epistemic: float | None
    aleatoric: float | None
