"""One typed configuration object, read from the environment and an optional `.env`.

Every service reads its settings here so a variable means the same thing everywhere and
the README's configuration table has a single source.  `DATABASE_URL` and
`KAFKA_BOOTSTRAP_SERVERS` left empty mean "use the embedded stack" (see `oceanwatch.stack`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Platform settings; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Where embedded Postgres, clips, models and backups live.")
    database_url: str = Field("", description="External Postgres URL; empty starts the embedded Postgres.")
    kafka_bootstrap_servers: str = Field("", description="External Kafka brokers; empty starts the embedded broker.")
    embedded_pg_port: int = Field(5433, description="TCP port of the embedded Postgres (0 picks a free one).")
    embedded_kafka_port: int = Field(9092, description="TCP port of the embedded broker (0 picks a free one).")
    kafka_partitions: int = Field(3, description="Partitions per topic when the platform creates topics.")
    kafka_session_timeout_ms: int = Field(6000, description="Consumer-group session timeout; short so joins are quick.")
    secret_key: str = Field("", description="Flask and Bokeh signing secret; empty makes one under DATA_DIR.")
    web_host: str = Field("127.0.0.1", description="Address the web app binds to.")
    web_port: int = Field(8000, description="Port of the web app.")
    bokeh_port: int = Field(5006, description="Port of the Bokeh server.")
    log_level: str = Field("INFO", description="Log level of every service.")
    log_format: str = Field("json", description="`json` (one object per line) or `text`.")
    hydrophone_id: str = Field("MARS", description="Id of the default hydrophone.")
    hydrophone_lat: float = Field(36.7125, description="Latitude of the default hydrophone (degrees north).")
    hydrophone_lon: float = Field(-122.1875, description="Longitude of the default hydrophone (degrees east).")
    predict_interval_s: float = Field(1.0, description="Longest wait for new windows before the predict loop runs.")
    predict_group_id: str = Field("predict-stream", description="Kafka consumer group of the predict stream.")
    predict_max_batch: int = Field(256, description="Most windows the predict stream takes per step.")
    scenario_seed: int = Field(1, description="Seed of the simulated world (traffic and audio agree on it).")
    scenario_vessels_per_hour: float = Field(4.0, description="Mean vessels passing per hour in the simulation.")
    simulator_speed: float = Field(1.0, description="Simulated seconds per wall-clock second.")
    simulator_anchor: str = Field("", description="ISO time where simulated and wall time meet; empty = today 00:00 UTC.")

    def require_database_url(self) -> str:
        """The database URL, or a clear error telling how to get one."""
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set: run through `make demo` / `python -m oceanwatch.stack` "
                               "or point DATABASE_URL at a Postgres server")
        return self.database_url

    def require_kafka(self) -> str:
        """The broker list, or a clear error telling how to get one."""
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set: run through `make demo` / "
                               "`python -m oceanwatch.stack` or point it at a Kafka cluster")
        return self.kafka_bootstrap_servers

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
