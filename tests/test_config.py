"""Configuration comes from the environment, with clear errors when the stack is missing."""

from pathlib import Path

import pytest

from oceanwatch.config import Settings


def test_environment_variables_fill_the_typed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "8123")
    monkeypatch.setenv("HYDROPHONE_LAT", "36.5")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    settings = Settings()
    assert settings.web_port == 8123
    assert settings.hydrophone_lat == 36.5
    assert settings.require_kafka() == "broker-1:9092,broker-2:9092"


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOKEH_PORT", raising=False)
    (tmp_path / ".env").write_text("BOKEH_PORT=5107\n")
    assert Settings().bokeh_port == 5107


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "not-a-port")
    with pytest.raises(ValueError, match="web_port"):
        Settings()


def test_missing_database_url_explains_how_to_get_one() -> None:
    with pytest.raises(RuntimeError, match="make demo"):
        Settings(database_url="").require_database_url()


def test_generated_secret_key_is_persisted_and_shared(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, secret_key="").resolved_secret_key()
    second = Settings(data_dir=tmp_path, secret_key="").resolved_secret_key()
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path, secret_key="explicit").resolved_secret_key() == "explicit"
