"""A tiny local AIS HTTP API (pytest plugin: the `api` fixture gives its URL; `AisApi` holds its script)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class AisApi(BaseHTTPRequestHandler):
    """Answers its queued `answers` (status, headers, JSON body) in turn, then empty lists; remembers requests."""

    seen: list[tuple[float, dict[str, str]]] = []
    answers: list[tuple[int, dict[str, str], object]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen.append((time.monotonic(), dict(self.headers)))
        status, headers, body = type(self).answers.pop(0) if type(self).answers else (200, {}, [])
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    AisApi.seen, AisApi.answers = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), AisApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/vessels"
    server.shutdown()
    server.server_close()
