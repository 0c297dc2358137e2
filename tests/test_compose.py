"""Compose files follow the Compose Specification and run commands that exist in this code base."""

import importlib
import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from oceanwatch.config import Settings
from oceanwatch.demo import GUNICORN_WORKER_ARGS, service_specs

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "schemas" / "compose-spec.json"  # copied in, see tests/schemas/README.md
COMPOSE_FILES = ["docker-compose.dev.yml", "docker-compose.prod.yml"]


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    """The schema says draft-07 (by a URL jsonschema does not know verbatim), so name it."""
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_is_valid(name: str, validator: jsonschema.Draft7Validator) -> None:
    validator.validate(_load(name))


def test_an_invalid_compose_file_is_caught(validator: jsonschema.Draft7Validator) -> None:
    broken = _load("docker-compose.prod.yml")
    broken["services"]["app"]["restart"] = ["always"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def _modules_of(command: list[str]) -> str:
    """Check that a service command refers to code that exists; returns the module it runs."""
    if command[:2] == ["python", "-m"]:
        module = command[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"no module {module}"
        if spec.submodule_search_locations is not None:
            assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"
        return module
    if command[0] == "gunicorn":
        module, factory = command[-1].split(":")
        assert callable(getattr(importlib.import_module(module), factory.removesuffix("()")))
        return "web"
    if command[0] == "flask":
        app = importlib.import_module(command[command.index("--app") + 1]).create_app(
            settings=Settings(secret_key="x"))
        assert command[3] in app.cli.commands, f"flask has no '{command[3]}' command"
        return "migrate"
    raise AssertionError(f"unknown command form {command}")


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_service_command_exists_in_the_code(name: str) -> None:
    services = _load(name)["services"]
    ours = {svc: spec["command"] for svc, spec in services.items() if "command" in spec}
    modules = {_modules_of(cmd) for cmd in ours.values()}
    demo = {"web" if "gunicorn" in s.argv else s.argv[s.argv.index("-m") + 1] for s in service_specs(Settings())}
    assert demo <= modules, f"services run by make demo but missing from {name}: {demo - modules}"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_gunicorn_runs_the_demos_worker_flags(name: str) -> None:
    """The flags tests/test_web_server.py proves against half-sent requests are the ones compose runs."""
    command = _load(name)["services"]["app"]["command"]
    n = len(GUNICORN_WORKER_ARGS)
    assert any(command[i:i + n] == GUNICORN_WORKER_ARGS for i in range(len(command))), command


def test_production_requires_secrets_and_puts_nginx_in_front() -> None:
    prod = _load("docker-compose.prod.yml")
    assert "POSTGRES_PASSWORD:?" in prod["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "SECRET_KEY:?" in prod["services"]["app"]["environment"]["SECRET_KEY"]
    assert "ports" not in prod["services"]["app"], "the app is reached through nginx only"
    mount = prod["services"]["nginx"]["volumes"][0].split(":")[0]
    assert (ROOT / mount).is_file()
    kafka = prod["services"]["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller", "Kafka runs in KRaft mode, no ZooKeeper"


def test_nothing_in_the_tree_reads_outside_it() -> None:
    """A fresh clone has no notes folder beside it: no tracked file may read from one."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"""\.\./shared|parent\s*/\s*["']shared["']|parents\[\d\]\s*/\s*["']shared["']""")
    offenders = [name for name in tracked
                 if name.endswith((".py", ".toml", ".cfg", ".yml", ".yaml", ".sh", "Makefile", "run"))
                 and outside.search((ROOT / name).read_text(errors="replace"))]
    assert offenders == []
