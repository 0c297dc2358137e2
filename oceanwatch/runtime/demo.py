"""`make demo`: the embedded stack, every service under the supervisor, and the URL to open."""

from __future__ import annotations

import logging
import os
import secrets
import sys

from oceanwatch.access.accounts import ensure_admin
from oceanwatch.config import Settings, get_settings
from oceanwatch.db import session_scope
from oceanwatch.db.seed import ensure_default_hydrophone, ensure_demo_sites
from oceanwatch.runtime.embedded import wait_for_port
from oceanwatch.runtime.logs import configure_logging
from oceanwatch.runtime.stack import up
from oceanwatch.runtime.supervisor import ServiceSpec, Supervisor

log = logging.getLogger("demo")


# How gunicorn serves the web app here and in compose (tests/test_compose.py checks they agree).  Threads,
# not sync workers: a sync worker is held by one client that sends half a request, so two such idle
# connections stopped the demo's app.  gthread parks idle connections in its poller, but a half-sent
# request still holds a thread until the client finishes or leaves, so each worker gets many threads
# (started only when needed); in production nginx reads whole requests before gunicorn sees them.
# --graceful-timeout stays under the supervisor's 10 s SIGTERM-to-SIGKILL grace.
GUNICORN_WORKER_ARGS = [
    "--worker-class",
    "gthread",
    "--threads",
    "32",
    "--timeout",
    "60",
    "--graceful-timeout",
    "5",
    "--keep-alive",
    "5",
]


def service_specs(settings: Settings, python: str = sys.executable) -> list[ServiceSpec]:
    """Every service of the platform, as the supervisor runs them (compose runs the same modules)."""
    web = [
        python,
        "-m",
        "gunicorn",
        "--bind",
        f"{settings.web.host}:{settings.web.port}",
        "--workers",
        "2",
        *GUNICORN_WORKER_ARGS,
        "--preload",
        "app:create_app()",
    ]
    modules = ["visualization", "predict_stream", "ais_stream", "ais_stream.truth_labeller", "ingest", "scripts.backup"]
    train = ServiceSpec(
        "train-baseline", [python, "-m", "oceanwatch.training", "--if-absent", "--register", "--deploy"], oneshot=True
    )
    return [ServiceSpec("web", web), train] + [ServiceSpec(m.split(".")[-1], [python, "-m", m]) for m in modules]


DEMO_ADMIN = "admin"


def ensure_demo_admin(database_url: str, settings: Settings) -> str:
    """Create the demo's `admin` user once (DEMO_ADMIN_PASSWORD, else a random one); returns how to log in."""
    password = settings.demo_admin_password or secrets.token_urlsafe(12)
    with session_scope(database_url) as session:
        created = ensure_admin(session, DEMO_ADMIN, password)
    if created:
        return f"log in as {DEMO_ADMIN} / {password}"
    return f"log in as {DEMO_ADMIN} (existing account; `flask --app app users create-admin` makes another)"


def main() -> int:
    settings = get_settings()
    configure_logging("demo", settings.log_level, "text")
    stack = up(settings)
    stack.supervise()  # the embedded Postgres and broker are restarted like the services if they die
    try:
        with session_scope(stack.database_url) as session:
            ensure_default_hydrophone(session, settings)
            ensure_demo_sites(session, settings)
        admin_note = ensure_demo_admin(stack.database_url, settings)
        env = {
            **os.environ,
            **stack.env(),
            "SECRET_KEY": settings.resolved_secret_key(),
            "DATA_DIR": str(settings.data_dir.resolve()),
        }
        supervisor = Supervisor(service_specs(settings), settings.data_dir / "logs", base_env=env)

        def announce() -> None:
            wait_for_port(settings.web.host, settings.web.port, 60)
            url = f"http://{settings.web.host}:{settings.web.port}/"
            print(
                f"\nOceanWatch is up: {url}\n  {admin_note}\n  logs: {settings.data_dir / 'logs'}\n  Ctrl-C stops everything.\n",
                flush=True,
            )

        supervisor.run(on_started=announce)
    finally:
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
