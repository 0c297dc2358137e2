"""What a site is: its fields and audio source, validated once for the API, the page and the seed.

A site's `source` says where its audio comes from: the seeded simulator, or a directory of
WAV/FLAC files with its own file-name pattern and window alignment (later a network stream).
None means the INGEST_* settings: the site seeded from HYDROPHONE_*, and every site stored before
sites had sources, go on as they were configured until someone sets theirs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from oceanwatch.config import AlignMode, Settings

SITE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SiteError(ValueError):
    """A site change that cannot be made (invalid field, duplicate id)."""


class UnknownSite(SiteError):
    """A site id that names no site."""


class SimulatorAudio(BaseModel):
    """What the seeded scenario's traffic sounds like at the site's position."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["simulator"] = "simulator"


class DirectoryAudio(BaseModel):
    """WAV/FLAC files dropped into `path`, their start time read from the file name by `pattern`
    (group `ts`, parsed with `time_format`; an optional group `hydrophone` files them under another site)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["directory"] = "directory"
    path: str = Field(min_length=1)
    pattern: str = r"(?P<ts>\d{8}T\d{6})"
    time_format: str = "%Y%m%dT%H%M%S"
    align: AlignMode = "grid"
    quarantine_dir: str = Field("", description="empty: PATH/quarantine")
    archive_dir: str = Field("", description="empty: PATH/ingested")

    @field_validator("pattern")
    @classmethod
    def _has_time_group(cls, pattern: str) -> str:
        try:
            groups = re.compile(pattern).groupindex
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "ts" not in groups:
            raise ValueError("needs a group named ts, e.g. (?P<ts>\\d{8}T\\d{6})")
        return pattern

    @classmethod
    def from_settings(cls, settings: Settings) -> DirectoryAudio:
        """The INGEST_DIR/_FILENAME_PATTERN/... settings as a directory source."""
        ingest = settings.ingest
        return cls(
            path=ingest.dir or str(settings.data_dir / "incoming"),
            pattern=ingest.filename_pattern,
            time_format=ingest.time_format,
            align=ingest.align,
            quarantine_dir=ingest.quarantine_dir,
            archive_dir=ingest.archive_dir,
        )

    def dirs(self) -> tuple[Path, Path, Path]:
        """(watched, quarantine, archive) directories with their defaults applied."""
        watched = Path(self.path)
        return (
            watched,
            Path(self.quarantine_dir) if self.quarantine_dir else watched / "quarantine",
            Path(self.archive_dir) if self.archive_dir else watched / "ingested",
        )


AudioSource = Annotated[SimulatorAudio | DirectoryAudio, Field(discriminator="kind")]
_SOURCE: TypeAdapter[SimulatorAudio | DirectoryAudio] = TypeAdapter(AudioSource)


def site_source(stored: dict[str, Any] | None, settings: Settings) -> SimulatorAudio | DirectoryAudio:
    """Where a site's audio comes from: its own source, or (None) what INGEST_SOURCE configures."""
    if stored is not None:
        return _SOURCE.validate_python(stored)
    if settings.ingest.source == "directory":
        return DirectoryAudio.from_settings(settings)
    return SimulatorAudio()


class SiteFields(BaseModel):
    """Everything about a site but its id (which never changes: windows and truth refer to it)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    latitude: float = Field(ge=-90.0, le=90.0)
    longitude: float = Field(ge=-180.0, le=180.0)
    depth_m: float | None = Field(None, ge=0.0, le=11_000.0)
    channels: int = Field(1, ge=1, le=16)
    sample_rate: int | None = Field(None, ge=1_000, le=768_000)
    sensitivity_db: float | None = Field(None, ge=-250.0, le=-100.0, description="dB re 1 V/uPa")
    source: AudioSource | None = Field(None, description="None: the INGEST_* settings say")
    active: bool = True
    description: str = Field("", max_length=2000)


def parse_fields(data: dict[str, Any]) -> dict[str, Any]:
    """`data` checked as a site's fields, as column values; every problem named in one SiteError,
    so a form or API client fixes them in one go."""
    try:
        return SiteFields.model_validate(data).model_dump()
    except ValidationError as exc:
        raise SiteError(_reasons(exc)) from None


def check_id(site_id: Any) -> str:
    """A site id as windows, truth and file names carry it."""
    if not isinstance(site_id, str) or not re.fullmatch(SITE_ID, site_id):
        raise SiteError("site id: 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return site_id


def _reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in error['loc']) or 'site'}: {error['msg']}" for error in exc.errors())
