"""`make demo`: the embedded stack, every service under the supervisor, and the URL to open."""

from __future__ import annotations

import logging
import os
import sys

from oceanwatch.config import Settings, get_settings
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.embedded import wait_for_port
from oceanwatch.logs import configure_logging
from oceanwatch.stack import up
from oceanwatch.supervisor import ServiceSpec, Supervisor

log = logging.getLogger("demo")


def service_specs(settings: Settings, python: str = sys.executable) -> list[ServiceSpec]:
    """Every service of the platform, as the supervisor runs them (compose runs the same modules)."""
    web = [python, "-m", "gunicorn", "--bind", f"{settings.web_host}:{settings.web_port}", "--workers", "2",
           "--timeout", "60", "app:create_app()"]
    modules = ["visualization", "predict_stream", "ais_stream", "ingest", "scripts.backup"]
    return [ServiceSpec("web", web)] + [ServiceSpec(m.split(".")[-1], [python, "-m", m]) for m in modules]


def main() -> int:
    settings = get_settings()
    configure_logging("demo", settings.log_level, "text")
    stack = up(settings)
    try:
        ensure_default_hydrophone(stack.database_url, settings)
        env = {**os.environ, **stack.env(), "SECRET_KEY": settings.resolved_secret_key(),
               "DATA_DIR": str(settings.data_dir.resolve())}
        supervisor = Supervisor(service_specs(settings), settings.data_dir / "logs", base_env=env)

        def announce() -> None:
            wait_for_port(settings.web_host, settings.web_port, 60)
            url = f"http://{settings.web_host}:{settings.web_port}/"
            print(f"\nOceanWatch is up: {url}\n  logs: {settings.data_dir / 'logs'}\n  Ctrl-C stops everything.\n",
                  flush=True)

        supervisor.run(on_started=announce)
    finally:
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
