"""Configuration comes from the environment, with clear errors when the stack is missing."""

from pathlib import Path

import pytest

from oceanwatch.config import Settings


def test_environment_variables_fill_the_typed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "8123")
    monkeypatch.setenv("HYDROPHONE_LAT", "36.5")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    settings = Settings()
    assert settings.web.port == 8123
    assert settings.hydrophone.lat == 36.5
    assert settings.require_kafka() == "broker-1:9092,broker-2:9092"


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOKEH_PORT", raising=False)
    (tmp_path / ".env").write_text("BOKEH_PORT=5107\n")
    assert Settings().bokeh.port == 5107


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "not-a-port")
    with pytest.raises(ValueError, match=r"WebSettings\nport"):
        Settings()


def test_a_choice_outside_its_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_SOURCE", "carrier-pigeon")
    with pytest.raises(ValueError, match="'simulator', 'tcp', 'udp', 'file', 'http' or 'aisstream'"):
        Settings()


def test_groups_read_their_prefixed_variables_and_the_names_they_keep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_POLL_S", "0.25")
    monkeypatch.setenv("SCENARIO_SEED", "7")  # the simulator group keeps SCENARIO_* names
    monkeypatch.setenv("MAX_UPLOAD_MB", "9")
    monkeypatch.setenv("PG_BIN_DIR", "/opt/pg/bin")
    settings = Settings()
    assert (
        settings.ingest.poll_s,
        settings.simulator.seed,
        settings.classify.max_upload_mb,
        settings.backup.pg_bin_dir,
    ) == (0.25, 7, 9.0, "/opt/pg/bin")


def test_updated_changes_one_field_of_a_group_and_keeps_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_STABLE_S", "4.0")
    monkeypatch.setenv("INGEST_POLL_S", "1.5")
    monkeypatch.setenv("DATABASE_URL", "postgresql://before/d")
    settings = Settings()
    changed = settings.updated(database_url="postgresql://h/d", ingest={"poll_s": 0.2})
    assert (changed.database_url, changed.ingest.poll_s, changed.ingest.stable_s) == ("postgresql://h/d", 0.2, 4.0)
    assert (settings.database_url, settings.ingest.poll_s) == ("postgresql://before/d", 1.5), (
        "the original is as it was"
    )
    with pytest.raises(TypeError, match="ingest has no setting poll"):
        settings.updated(ingest={"poll": 1})
    with pytest.raises(TypeError, match="no setting 'ingest_poll_s'"):
        settings.updated(ingest_poll_s=1)


def test_to_env_hands_every_setting_to_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What localserve and the supervisor rely on: the environment rebuilds the very same settings."""
    original = Settings().updated(
        truth={"radii_km": (10, 25)},
        ingest={"align_by_hydrophone": {"H2": "file"}, "clips": False},
        simulator={"seed": 5},
    )
    env = original.to_env()
    assert env["TRUTH_RADII_KM"] == "[10, 25]" and env["SCENARIO_SEED"] == "5" and env["INGEST_CLIPS"] == "False"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_missing_database_url_explains_how_to_get_one() -> None:
    with pytest.raises(RuntimeError, match="make demo"):
        Settings(database_url="").require_database_url()


def test_generated_secret_key_is_persisted_and_shared(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, secret_key="").resolved_secret_key()
    second = Settings(data_dir=tmp_path, secret_key="").resolved_secret_key()
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path, secret_key="explicit").resolved_secret_key() == "explicit"
