"""One typed configuration object, read from the environment and an optional `.env`.

Every service reads its settings here so a variable means the same thing everywhere and
the README's configuration table has a single source.  `DATABASE_URL` and
`KAFKA_BOOTSTRAP_SERVERS` left empty mean "use the embedded stack" (see `oceanwatch.runtime.stack`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

AlignMode = Literal["grid", "file"]
"""Where a directory file's windows start: on the global grid, or at the file's own start."""


def _group_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )


class _Group(BaseSettings):
    """One service's (or concern's) settings, read from the environment variables with its prefix."""

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Each field's environment variable: the group's prefix and its name, or the alias it keeps."""
        prefix = cls.model_config.get("env_prefix", "")
        names = {}
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names[name] = str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"{prefix}{name}".upper()
        return names


class KafkaSettings(_Group):
    """The broker (`KAFKA_*`)."""

    model_config = _group_config("KAFKA_")

    bootstrap_servers: str = Field("", description="External Kafka brokers; empty starts the embedded broker.")
    partitions: int = Field(3, description="Partitions per topic when the platform creates topics.")
    session_timeout_ms: int = Field(6000, description="Consumer-group session timeout; short so joins are quick.")
    topic_prefix: str = Field(
        "", description="Prefix of every topic the platform uses (several platforms sharing one Kafka cluster)."
    )

    def topic(self, name: str) -> str:
        """The platform's topic `name` (e.g. `acoustic.windows`) as this deployment names it."""
        return self.topic_prefix + name


class EmbeddedSettings(_Group):
    """The embedded servers `make demo` and `make test` start (`EMBEDDED_*`)."""

    model_config = _group_config("EMBEDDED_")

    pg_port: int = Field(5433, description="TCP port of the embedded Postgres (0 picks a free one).")
    kafka_port: int = Field(9092, description="TCP port of the embedded broker (0 picks a free one).")


class WebSettings(_Group):
    """The web app (`WEB_*`)."""

    model_config = _group_config("WEB_")

    host: str = Field("127.0.0.1", description="Address the web app binds to.")
    port: int = Field(8000, description="Port of the web app.")
    proxy_hops: int = Field(
        0,
        description="Reverse proxies in front of the web app whose X-Forwarded-* headers are trusted (1 behind nginx).",
    )
    cookie_secure: Literal["auto", "true", "false"] = Field(
        "auto",
        description="Mark the session cookie Secure: auto = when the request came over HTTPS "
        "(as the proxy reports it, with WEB_PROXY_HOPS), true = always, false = never.",
    )


class BokehSettings(_Group):
    """The Bokeh server of the live dashboard (`BOKEH_*`)."""

    model_config = _group_config("BOKEH_")

    port: int = Field(5006, description="Port of the Bokeh server.")
    url: str = Field("", description="Bokeh server URL as browsers reach it; empty = http://WEB_HOST:BOKEH_PORT.")
    allowed_origins: str = Field(
        "",
        description="Comma-separated host[:port] pages that may open Bokeh "
        "sessions; empty = WEB_HOST:WEB_PORT (both loopback names when local).",
    )
    session_expiry_s: int = Field(
        300,
        gt=0,
        description="Seconds a live-dashboard session id from the web app stays usable to open its Bokeh session.",
    )


class HydrophoneSettings(_Group):
    """The default hydrophone (`HYDROPHONE_*`)."""

    model_config = _group_config("HYDROPHONE_")

    id: str = Field("MARS", description="Id of the default hydrophone.")
    lat: float = Field(36.7125, description="Latitude of the default hydrophone (degrees north).")
    lon: float = Field(-122.1875, description="Longitude of the default hydrophone (degrees east).")


class PredictSettings(_Group):
    """The predict stream (`PREDICT_*`)."""

    model_config = _group_config("PREDICT_")

    interval_s: float = Field(1.0, description="Longest wait for new windows before the predict loop runs.")
    group_id: str = Field("predict-stream", description="Kafka consumer group of the predict stream.")
    max_batch: int = Field(256, description="Most windows the predict stream takes per step.")
    catchup_hours: float = Field(
        24.0,
        gt=0,
        description="Hours back the predict stream's reconciler "
        "(and a deploy's catch-up job) gives every active model a prediction "
        "for each stored window that lacks one.",
    )
    reconcile_s: float = Field(
        30.0,
        gt=0,
        description="Seconds between the predict stream's reconcile passes over stored windows Kafka never delivered.",
    )
    reconcile_grace_s: float = Field(
        60.0,
        ge=0,
        description="Windows stored less than this many seconds ago are left to Kafka by the reconciler "
        "(a live window keeps its latency from publication).",
    )


class SimulatorSettings(_Group):
    """The simulated world: its seed, traffic and clock (`SCENARIO_*`, `SIMULATOR_*`)."""

    model_config = _group_config("SIMULATOR_")

    seed: int = Field(
        validation_alias=AliasChoices("SCENARIO_SEED"),
        default=1,
        description="Seed of the simulated world (traffic and audio agree on it).",
    )
    vessels_per_hour: float = Field(
        validation_alias=AliasChoices("SCENARIO_VESSELS_PER_HOUR"),
        default=1.0,
        description="Mean vessels entering the 60 km region per hour "
        "(about a third of windows then have a ship within 20 km).",
    )
    speed: float = Field(1.0, description="Simulated seconds per wall-clock second.")
    anchor: str = Field("", description="ISO time where simulated and wall time meet; empty = today 00:00 UTC.")


class BaselineSettings(_Group):
    """The baseline model the demo trains (`BASELINE_*`)."""

    model_config = _group_config("BASELINE_")

    per_class: int = Field(400, description="Training windows per class when the demo trains the baseline.")
    epochs: int = Field(12, description="Most epochs of that training (early stopping may end it sooner).")
    eval_hours: float = Field(48.0, description="Hours of held-out scenario the baseline is scored on.")
    scenario_hours: float = Field(96.0, description="Hours of other-seed scenarios added to its training set.")


class TruthSettings(_Group):
    """Truth from AIS and the truth labeller (`TRUTH_*`)."""

    model_config = _group_config("TRUTH_")

    radii_km: tuple[int, ...] = Field((20, 30, 40), description="Truth radii R kept per window (JSON list).")
    buffer_km: float = Field(10.0, description="A vessel between R and R + buffer makes a window ambiguous.")
    max_gap_s: float = Field(300.0, description="Longest time a track is interpolated or dead-reckoned from a fix.")
    revise_lag_s: float = Field(900.0, description="Late AIS this far behind the newest fix still revises labels.")
    max_wait_s: float = Field(120.0, description="Label a window this long after it was stored even if AIS is silent.")
    interval_s: float = Field(2.0, description="Seconds between passes of the truth labeller.")


class EventSettings(_Group):
    """What the live page's events list and the home page's counts call an event (`EVENTS_*`).

    Truth is checked at the first of TRUTH_RADII_KM, the radius the pages show by default.
    """

    model_config = _group_config("EVENTS_")

    entropy_min: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Normalised predictive entropy from which a prediction is a high-uncertainty event.",
    )


class IngestSettings(_Group):
    """The ingest service (`INGEST_*`)."""

    model_config = _group_config("INGEST_")

    source: Literal["simulator", "directory"] = Field(
        "simulator",
        description="Audio source of the sites that have none of their own (the HYDROPHONE_* site as seeded): "
        "`simulator` or `directory`.",
    )
    dir: str = Field("", description="Watched directory of WAV/FLAC files; empty = DATA_DIR/incoming.")
    quarantine_dir: str = Field(
        "", description="Where unusable files go, with a reason file; empty = INGEST_DIR/quarantine."
    )
    archive_dir: str = Field("", description="Where ingested files are moved; empty = INGEST_DIR/ingested.")
    filename_pattern: str = Field(
        r"(?P<ts>\d{8}T\d{6})",
        description="Regex finding the start time (group `ts`, optional group `hydrophone`) in a file name.",
    )
    time_format: str = Field(
        "%Y%m%dT%H%M%S", description="strptime format of the `ts` group (UTC unless it has %z), or `epoch`."
    )
    stable_s: float = Field(2.0, description="Seconds a file's size and mtime must stay unchanged before it is read.")
    poll_s: float = Field(1.0, description="Seconds between scans of the watched directory.")
    sites_refresh_s: float = Field(
        10.0,
        gt=0,
        description="Seconds between ingest's reads of the active sites (an added or removed site is picked up).",
    )
    window_s: float = Field(
        30.0, description="Window length in seconds; windows start every 75 % of it on a global grid."
    )
    batch_windows: int = Field(32, description="Windows per database transaction and producer flush (bounds memory).")
    gap_tolerance_s: float = Field(
        0.05, description="Time mismatch between consecutive files still treated as contiguous."
    )
    align: AlignMode = Field(
        "grid",
        description="Where directory files' windows start: `grid` (the global grid, audio runs on across files) or `file` (each file's own start).",
    )
    align_by_hydrophone: dict[str, AlignMode] = Field(
        {}, description='Per-hydrophone INGEST_ALIGN, JSON, e.g. {"H2": "file"}; a sidecar\'s `align` wins over both.'
    )
    clips: bool = Field(True, description="Write a FLAC clip of every window under DATA_DIR/clips for the web player.")
    spec_refresh_s: float = Field(30.0, description="Seconds between re-reads of the feature specs of active models.")
    sim_sample_rate: int = Field(8000, description="Sample rate of the simulated hydrophone audio (Hz).")
    shard_count: int = Field(
        1, ge=1, description="Ingest processes sharing the sites (each site is served by exactly one of them)."
    )
    shard_index: int = Field(
        0, ge=0, description="Which of the INGEST_SHARD_COUNT shares of the sites this process serves (0-based)."
    )

    @model_validator(mode="after")
    def _shard_in_range(self) -> IngestSettings:
        if self.shard_index >= self.shard_count:
            raise ValueError(f"INGEST_SHARD_INDEX must be below INGEST_SHARD_COUNT ({self.shard_count})")
        return self


class BackupSettings(_Group):
    """Backups and restores (`BACKUP_*`, `PG_BIN_DIR`)."""

    model_config = _group_config("BACKUP_")

    dir: str = Field("", description="Where backups are written; empty = DATA_DIR/backups.")
    at: str = Field("02:00", description="Time of day (HH:MM, the service's local time) the first daily backup starts.")
    every_hours: int = Field(
        24, description="Hours between scheduled backups, counted from BACKUP_AT (a divisor or multiple of 24)."
    )
    keep_daily: int = Field(7, description="Days whose newest backup retention keeps.")
    keep_weekly: int = Field(4, description="ISO weeks whose newest backup retention keeps.")
    retries: int = Field(3, description="Attempts per backup run before it is recorded as failed.")
    retry_delay_s: float = Field(30.0, description="Wait between failed backup attempts (doubles each time).")
    files: str = Field(
        "models,clips", description="DATA_DIR subdirectories put in each backup's companion tar; empty = none."
    )
    pg_bin_dir: str = Field(
        validation_alias=AliasChoices("PG_BIN_DIR"),
        default="",
        description="Directory of pg_dump/pg_restore; empty = the embedded wheel's or PATH's, whichever suits the server.",
    )


class AisSettings(_Group):
    """The AIS stream (`AIS_*`)."""

    model_config = _group_config("AIS_")

    source: Literal["simulator", "tcp", "udp", "file", "http", "aisstream"] = Field(
        "simulator", description="Where ais_stream reads AIS: simulator, tcp, udp, file, http or aisstream."
    )
    tcp_host: str = Field("127.0.0.1", description="NMEA-over-TCP server to connect to (AIS_SOURCE=tcp).")
    tcp_port: int = Field(10110, description="Port of the NMEA-over-TCP server.")
    reconnect_max_s: float = Field(
        60.0, description="Longest wait between TCP or WebSocket reconnects (doubling from 1 s)."
    )
    udp_host: str = Field("0.0.0.0", description="Address to receive NMEA datagrams on (AIS_SOURCE=udp).")
    udp_port: int = Field(10110, description="UDP port ais_stream listens on.")
    file: str = Field("", description="NMEA log file ais_stream reads (AIS_SOURCE=file).")
    file_follow: bool = Field(True, description="Keep reading new lines of AIS_FILE, like `tail -F`.")
    http_url: str = Field("", description="HTTP JSON API ais_stream polls (AIS_SOURCE=http).")
    http_api_key: str = Field("", description="API key sent with every HTTP poll (keep it in the environment).")
    http_api_key_header: str = Field(
        "X-API-Key", description="Header carrying the API key; `Authorization` sends `Bearer <key>`."
    )
    http_interval_s: float = Field(60.0, description="Seconds between HTTP polls (longer when the API asks).")
    aisstream_url: str = Field(
        "wss://stream.aisstream.io/v0/stream", description="aisstream.io's WebSocket endpoint (AIS_SOURCE=aisstream)."
    )
    aisstream_api_key: str = Field(
        "", description="aisstream.io API key, sent in the subscription (keep it in the environment)."
    )
    aisstream_bboxes: list[tuple[tuple[float, float], tuple[float, float]]] = Field(
        [],
        description="Areas to subscribe to, JSON [[[lat1, lon1], [lat2, lon2]], ...]; empty = a box around the "
        "hydrophone reaching the largest truth radius plus its buffer.",
    )
    aisstream_message_types: str = Field(
        "",
        description="Comma-separated aisstream.io MessageTypes to subscribe "
        "to; empty = those ais_stream stores (positions, static data).",
    )
    batch_size: int = Field(2000, description="Most AIS lines or records decoded and stored per batch.")
    batch_wait_s: float = Field(0.5, description="Longest wait for a batch to fill before it is written.")


class ClassifySettings(_Group):
    """Classifying uploaded clips (`MAX_UPLOAD_*`, `CLASSIFY_*`)."""

    model_config = _group_config("CLASSIFY_")

    max_upload_mb: float = Field(
        validation_alias=AliasChoices("MAX_UPLOAD_MB"),
        default=50.0,
        description="Largest audio clip accepted by Classify a clip / POST /api/v1/predict (MB); larger answers 413.",
    )
    max_upload_seconds: float = Field(
        validation_alias=AliasChoices("MAX_UPLOAD_SECONDS"),
        default=600.0,
        description="Longest audio clip accepted for classification (seconds).",
    )
    max_upload_samples: int = Field(
        validation_alias=AliasChoices("MAX_UPLOAD_SAMPLES"),
        default=30_000_000,
        ge=1,
        description="Most decoded samples (frames x channels) an uploaded clip may hold, checked from the header "
        "and while decoding in blocks; bounds the web worker's memory (about 8 bytes a sample). "
        "The default fits 600 s of 48 kHz mono, not stereo.",
    )
    concurrency: int = Field(
        2,
        ge=1,
        description="Uploads each web worker process decodes and classifies at once (others wait); with "
        "MAX_UPLOAD_SAMPLES it bounds a worker's memory, however many threads it runs.",
    )
    min_audio_share: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Least share of a model's window that an uploaded clip must fill with real audio; a shorter "
        "clip is refused for that model rather than answered from zero padding.",
    )


class RetentionSettings(_Group):
    """Data retention (`RETENTION_*`), run by the backup service (`scripts.backup`)."""

    model_config = _group_config("RETENTION_")

    spectrogram_days: float = Field(
        30.0,
        ge=0,
        description="Days a window's spectrograms are kept (0 = forever); a window a person labelled or "
        "judged keeps them. Backfills and training read spectrograms: they reach back no further.",
    )
    clip_days: float = Field(
        30.0, ge=0, description="Days a window's FLAC clip is kept (0 = forever), with the same exception."
    )
    every_hours: float = Field(6.0, gt=0, description="Hours between retention passes.")
    batch: int = Field(5000, ge=1, description="Windows pruned per transaction.")


GROUPS: dict[str, type[_Group]] = {
    "kafka": KafkaSettings,
    "embedded": EmbeddedSettings,
    "web": WebSettings,
    "bokeh": BokehSettings,
    "hydrophone": HydrophoneSettings,
    "predict": PredictSettings,
    "simulator": SimulatorSettings,
    "baseline": BaselineSettings,
    "truth": TruthSettings,
    "events": EventSettings,
    "ingest": IngestSettings,
    "backup": BackupSettings,
    "retention": RetentionSettings,
    "ais": AisSettings,
    "classify": ClassifySettings,
}
"""Every group by its attribute on `Settings`, in the order the configuration reference lists them."""


class Settings(BaseSettings):
    """Platform settings: a few shared by every process, the rest in one group per service or concern.

    A group's field `x` is read from the environment variable `<PREFIX>X` (`settings.ingest.dir` from
    `INGEST_DIR`); a few keep older names that do not share their group's prefix (`validation_alias`).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Where embedded Postgres, clips, models and backups live.")
    database_url: str = Field("", description="External Postgres URL; empty starts the embedded Postgres.")
    secret_key: str = Field("", description="Flask and Bokeh signing secret; empty makes one under DATA_DIR.")
    demo_admin_password: str = Field(
        "", description="Password of the `admin` user `make demo` creates; empty generates one and prints it."
    )
    log_level: str = Field("INFO", description="Log level of every service.")
    log_format: Literal["json", "text"] = Field("json", description="`json` (one object per line) or `text`.")
    heartbeat_interval_s: float = Field(
        10.0, description="How often each service records its heartbeat and counters in Postgres."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    bokeh: BokehSettings = Field(default_factory=BokehSettings)
    hydrophone: HydrophoneSettings = Field(default_factory=HydrophoneSettings)
    predict: PredictSettings = Field(default_factory=PredictSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    baseline: BaselineSettings = Field(default_factory=BaselineSettings)
    truth: TruthSettings = Field(default_factory=TruthSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    ais: AisSettings = Field(default_factory=AisSettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)

    def to_env(self) -> dict[str, str]:
        """These settings as the environment a child process reads them back from (JSON for lists and maps).

        How a process hands settings it changed (free ports, a scratch database) to the services it
        starts, so that they read exactly what it would have.
        """

        def text(value: Any) -> str:
            return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

        dumped = self.model_dump(mode="json")
        env = {name.upper(): text(dumped[name]) for name in type(self).model_fields if name not in GROUPS}
        for attr, group in GROUPS.items():
            env |= {variable: text(dumped[attr][name]) for name, variable in group.env_names().items()}
        return env

    def updated(self, **changes: Any) -> Settings:
        """A copy with some settings changed: a shared one by name, a group's as a dict of its fields.

        `settings.updated(database_url=url, ingest={"poll_s": 0.2})` changes the URL and one ingest
        field and keeps every other setting (the groups are copied, not shared).
        """
        update: dict[str, Any] = {}
        for name, value in changes.items():
            if name in GROUPS:
                group = getattr(self, name)
                unknown = set(value) - set(type(group).model_fields)
                if unknown:
                    raise TypeError(f"{name} has no setting {', '.join(sorted(unknown))}")
                update[name] = group.model_copy(update=value)
            elif name in type(self).model_fields:
                update[name] = value
            else:
                raise TypeError(f"no setting {name!r}")
        return self.model_copy(update=update)

    def resolved_backup_dir(self) -> Path:
        """BACKUP_DIR, or DATA_DIR/backups when it is not set."""
        return Path(self.backup.dir) if self.backup.dir else self.data_dir / "backups"

    def require_database_url(self) -> str:
        """The database URL, or a clear error telling how to get one."""
        if not self.database_url:
            raise RuntimeError(
                "DATABASE_URL is not set: run through `make demo` / `python -m oceanwatch.runtime.stack` "
                "or point DATABASE_URL at a Postgres server"
            )
        return self.database_url

    def require_kafka(self) -> str:
        """The broker list, or a clear error telling how to get one."""
        if not self.kafka.bootstrap_servers:
            raise RuntimeError(
                "KAFKA_BOOTSTRAP_SERVERS is not set: run through `make demo` / "
                "`python -m oceanwatch.runtime.stack` or point it at a Kafka cluster"
            )
        return self.kafka.bootstrap_servers

    def resolved_bokeh_url(self) -> str:
        return (self.bokeh.url or f"http://{self.web.host}:{self.bokeh.port}").rstrip("/")

    def resolved_bokeh_origins(self) -> list[str]:
        """Origins allowed to open Bokeh websockets: the web app's own host unless configured."""
        configured = [o.strip() for o in self.bokeh.allowed_origins.split(",") if o.strip()]
        if configured:
            return configured
        loopback = ("127.0.0.1", "localhost")
        hosts = loopback if self.web.host in loopback else (self.web.host,)
        return [f"{host}:{self.web.port}" for host in hosts]

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or a random one persisted under DATA_DIR so every service agrees on it."""
        if self.secret_key:
            return self.secret_key
        import os
        import secrets

        path = self.data_dir / "secret_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes racing here, exactly one writes the key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached: the environment is read once)."""
    return Settings()
