"""The storage and transport a run needs: external if configured, embedded otherwise.

`python -m oceanwatch.runtime.stack run -- CMD...` brings the stack up (embedded Postgres and broker
unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point elsewhere), migrates, runs CMD with
those variables exported, then stops what it started.  `make test` uses it so the suite
runs against real servers on a fresh machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from oceanwatch.config import Settings
from oceanwatch.kafka import ensure_topics
from oceanwatch.runtime.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from oceanwatch.runtime.supervisor import restart_delay

log = logging.getLogger(__name__)


@dataclass
class Stack:
    """Resolved connection settings plus the embedded servers this process started."""

    database_url: str
    kafka_bootstrap: str
    started: list[EmbeddedPostgres | EmbeddedBroker] = field(default_factory=list)
    partitions: int = 1
    _watch_stop: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap}

    def supervise(self, poll_s: float = 1.0, max_backoff_s: float = 30.0, stable_after_s: float = 60.0) -> None:
        """Watch the embedded servers this process started and restart one that died, like the services.

        Same port and data directory, exponential backoff between failed restarts (reset once it
        stayed up); a restarted broker (memory storage) gets its topics back.  Runs in a thread
        until `down()`.
        """

        def watch(server: EmbeddedPostgres | EmbeddedBroker, state: dict[str, float]) -> None:
            now = time.monotonic()
            if server.alive():
                if now - state["up_since"] > stable_after_s:
                    state["failures"] = 0
                return
            if now < state["next_try"]:
                return
            log.warning("embedded %s on port %d is down; restarting it", type(server).__name__, server.port)
            try:
                server.start()
                if isinstance(server, EmbeddedBroker):
                    ensure_topics(server.bootstrap, self.partitions)
                state["up_since"] = time.monotonic()
            except Exception:  # the next poll tries again, later
                log.exception("could not restart %s", type(server).__name__)
                state["next_try"] = time.monotonic() + restart_delay(int(state["failures"]), max_backoff_s)
                state["failures"] += 1

        def loop() -> None:
            states = {
                id(server): {"failures": 0, "next_try": 0.0, "up_since": time.monotonic()} for server in self.started
            }
            while not self._watch_stop.wait(poll_s):
                for server in list(self.started):
                    watch(server, states[id(server)])

        self._watcher = threading.Thread(target=loop, name="stack-supervisor", daemon=True)
        self._watcher.start()

    def down(self) -> None:
        """Stop the embedded servers this process started (in reverse order)."""
        self._watch_stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception:  # stopping one must not keep the other running
                log.exception("could not stop %s", type(server).__name__)
        self.started.clear()


def up(settings: Settings, migrate: bool = True) -> Stack:
    """Start what is missing, create topics, and migrate the database to head."""
    root = settings.data_dir.resolve()
    started: list[EmbeddedPostgres | EmbeddedBroker] = []
    database_url = settings.database_url
    if not database_url:
        pg = EmbeddedPostgres(root, settings.embedded.pg_port or free_port())
        if pg.start():
            started.append(pg)
        database_url = pg.url
    bootstrap = settings.kafka.bootstrap_servers
    if not bootstrap:
        broker = EmbeddedBroker(root, settings.embedded.kafka_port or free_port())
        if broker.start():
            started.append(broker)
        bootstrap = broker.bootstrap
    stack = Stack(database_url, bootstrap, started, settings.kafka.partitions)
    try:
        ensure_topics(bootstrap, settings.kafka.partitions)
        if migrate:
            from oceanwatch.db.migrate import upgrade

            upgrade(database_url)
    except BaseException:
        stack.down()
        raise
    return stack


def _run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir) if args.data_dir else None
    if data_dir is not None and args.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    settings = Settings()
    if data_dir is not None:
        settings = settings.updated(data_dir=data_dir)
    if args.free_ports:
        settings = settings.updated(embedded={"pg_port": 0, "kafka_port": 0})
    stack = up(settings)
    stack.supervise()
    env = {**os.environ, **stack.env(), "DATA_DIR": str(settings.data_dir.resolve())}
    try:
        return subprocess.call(args.command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        stack.down()


def main(argv: list[str] | None = None) -> int:
    from oceanwatch.runtime.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m oceanwatch.runtime.stack", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="bring the stack up, run a command with it, bring it down")
    run.add_argument("--data-dir", help="override DATA_DIR for this run")
    run.add_argument("--fresh", action="store_true", help="delete the data dir first")
    run.add_argument("--free-ports", action="store_true", help="embedded servers on free ports")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- command and arguments")
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("run needs a command after --")
    configure_logging("stack", fmt="text")
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
