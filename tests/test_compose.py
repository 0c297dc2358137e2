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
from oceanwatch.runtime.demo import GUNICORN_WORKER_ARGS, service_specs

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
        app = importlib.import_module(command[command.index("--app") + 1]).create_app(settings=Settings(secret_key="x"))
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
    assert any(command[i : i + n] == GUNICORN_WORKER_ARGS for i in range(len(command))), command


def test_production_requires_secrets_and_puts_nginx_in_front() -> None:
    prod = _load("docker-compose.prod.yml")
    assert "POSTGRES_PASSWORD:?" in prod["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "SECRET_KEY:?" in prod["services"]["app"]["environment"]["SECRET_KEY"]
    assert "ports" not in prod["services"]["app"], "the app is reached through nginx only"
    mount = prod["services"]["nginx"]["volumes"][0].split(":")[0]
    assert (ROOT / mount).is_file()
    kafka = prod["services"]["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller", "Kafka runs in KRaft mode, no ZooKeeper"


def _server_blocks(conf: str) -> list[str]:
    """The bodies of nginx's top-level `server { ... }` blocks (comments dropped, braces matched)."""
    text = re.sub(r"#[^\n]*", "", conf)
    blocks = []
    for match in re.finditer(r"^server\s*\{", text, re.MULTILINE):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        blocks.append(text[match.end() : i - 1])
    return blocks


def test_production_nginx_serves_tls_with_hsts_and_redirects_plain_http() -> None:
    nginx = _load("docker-compose.prod.yml")["services"]["nginx"]
    source, target = nginx["volumes"][0].split(":")[:2]
    assert target.startswith("/etc/nginx/templates/") and target.endswith(".template"), "envsubst fills it in"
    assert "443:443" in nginx["ports"] and "80:80" in nginx["ports"]
    blocks = _server_blocks((ROOT / source).read_text())
    [tls] = [b for b in blocks if re.search(r"listen\s+443\s+ssl", b)]
    [plain] = [b for b in blocks if re.search(r"listen\s+80;", b)]
    for directive, variable in (("ssl_certificate", "TLS_CERTIFICATE"), ("ssl_certificate_key", "TLS_CERTIFICATE_KEY")):
        assert re.search(rf"^\s*{directive}\s+\${{{variable}}};", tls, re.MULTILINE), directive
        assert variable in nginx["environment"] and re.match(r"\^?TLS_", nginx["environment"]["NGINX_ENVSUBST_FILTER"])
    assert re.search(r'add_header\s+Strict-Transport-Security\s+"max-age=\d{7,}[^"]*"\s+always;', tls)
    assert "proxy_pass http://oceanwatch_app" in tls and "X-Forwarded-Proto $scheme" in tls
    assert "return 301 https://$host$request_uri;" in plain and "proxy_pass" not in plain
    assert any(v.endswith(":/etc/nginx/certs:ro") and "TLS_CERT_DIR:?" in v for v in nginx["volumes"])


def test_nothing_in_the_tree_reads_outside_it() -> None:
    """A fresh clone has no notes folder beside it: no tracked file may read from one."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"""\.\./shared|parent\s*/\s*["']shared["']|parents\[\d\]\s*/\s*["']shared["']""")
    offenders = [
        name
        for name in tracked
        if name.endswith((".py", ".toml", ".cfg", ".yml", ".yaml", ".sh", "Makefile", "run"))
        and outside.search((ROOT / name).read_text(errors="replace"))
    ]
    assert offenders == []
