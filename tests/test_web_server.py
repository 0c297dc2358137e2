"""The web app under gunicorn exactly as `make demo` starts it: clients that send half a request and
then go quiet (no buffering proxy in front of the demo) must not stop it answering everyone else."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from oceanwatch.config import Settings
from oceanwatch.runtime.demo import service_specs
from oceanwatch.runtime.embedded import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # no blank line: the headers never end


@pytest.fixture
def demo_web(tmp_path: Path) -> Iterator[str]:
    """gunicorn started from the demo's own service spec; yields its base URL."""
    settings = Settings().updated(web={"host": "127.0.0.1", "port": free_port()})
    web = next(spec for spec in service_specs(settings, python=sys.executable) if spec.name == "web")
    env = {**os.environ, "SECRET_KEY": "slow-client-test", "DATA_DIR": str(tmp_path), "LOG_FORMAT": "text"}
    log = open(tmp_path / "web.log", "w")
    process = subprocess.Popen(web.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(settings.web.host, settings.web.port, 60)
        yield f"http://{settings.web.host}:{settings.web.port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_clients_sending_half_a_request_do_not_stall_the_app(demo_web: str) -> None:
    host, port = demo_web.removeprefix("http://").split(":")
    slow = [socket.create_connection((host, int(port)), timeout=10) for _ in range(10)]
    try:
        for connection in slow:
            connection.sendall(HALF_REQUEST)
        time.sleep(1)  # let the workers take them in (a sync worker is then stuck in each one's read)
        for _ in range(3):
            response = requests.get(f"{demo_web}/healthz", timeout=5)
            assert response.status_code == 200 and response.json() == {"status": "ok"}
        slow[0].sendall(b"\r\n")  # a slow client that finishes its request is answered too
        assert slow[0].recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for connection in slow:
            connection.close()
