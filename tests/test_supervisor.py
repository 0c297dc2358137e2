"""The supervisor restarts a dead service and stops everything cleanly, even a stubborn child."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

from oceanwatch.runtime.supervisor import ServiceSpec, Supervisor
from oceanwatch.testing.waiting import wait_for

SLEEPER = "import time\nwhile True: time.sleep(0.1)\n"
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(0.1)\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_dead_service_is_restarted_and_logged(tmp_path: Path) -> None:
    sup = Supervisor(
        [ServiceSpec("a", [sys.executable, "-c", SLEEPER]), ServiceSpec("b", [sys.executable, "-c", SLEEPER])],
        tmp_path,
        max_backoff_s=0.2,
    )
    sup.start_all()
    try:
        first = sup.pids()["a"]
        assert first is not None
        os.kill(first, signal.SIGKILL)

        def restarted() -> bool:
            sup.poll_once()
            pid = sup.pids()["a"]
            return pid is not None and pid != first

        assert wait_for(restarted)
        assert sup.pids()["b"] is not None
    finally:
        sup.stop()
    assert (tmp_path / "a.log").exists()


def test_a_oneshot_task_runs_until_it_succeeds(tmp_path: Path) -> None:
    marker = tmp_path / "tries"
    # fails on its first run, succeeds on the second; must then never run again
    task = (
        f"import pathlib, sys\np = pathlib.Path({str(marker)!r})\nn = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\nsys.exit(1 if n == 0 else 0)\n"
    )
    sup = Supervisor([ServiceSpec("setup", [sys.executable, "-c", task], oneshot=True)], tmp_path, max_backoff_s=0.1)
    sup.start_all()
    try:

        def poll_tries() -> str:
            sup.poll_once()
            return marker.read_text() if marker.exists() else ""

        assert wait_for(lambda: poll_tries() == "2")
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            sup.poll_once()
            time.sleep(0.05)
        assert marker.read_text() == "2" and sup.pids()["setup"] is None
    finally:
        sup.stop()


def test_stop_terminates_all_and_kills_a_stubborn_one(tmp_path: Path) -> None:
    sup = Supervisor(
        [
            ServiceSpec("polite", [sys.executable, "-c", SLEEPER]),
            ServiceSpec("stubborn", [sys.executable, "-c", STUBBORN]),
        ],
        tmp_path,
        grace_s=1.0,
    )
    sup.start_all()
    time.sleep(0.5)  # let the stubborn child install its SIGTERM handler
    pids = [p for p in sup.pids().values() if p is not None]
    assert len(pids) == 2
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 5
    assert not any(_alive(p) for p in pids)


def test_run_stops_on_sigterm_and_calls_on_started(tmp_path: Path) -> None:
    sup = Supervisor([ServiceSpec("a", [sys.executable, "-c", SLEEPER])], tmp_path)
    announced = threading.Event()
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    sup.run(on_started=announced.set, poll_s=0.05)
    assert announced.is_set()
    assert sup.pids() == {"a": None}


def test_what_a_dead_service_left_in_its_group_is_killed_before_the_restart(tmp_path: Path) -> None:
    """As after `kill -9` of gunicorn's master: its workers must not keep the port and serve on."""
    pidfile = tmp_path / "worker.pid"
    parent = (
        f"import subprocess, time\np = subprocess.Popen(['sleep', '120'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\nwhile True: time.sleep(0.1)\n"
    )
    sup = Supervisor([ServiceSpec("master", [sys.executable, "-c", parent])], tmp_path, max_backoff_s=0.2)
    sup.start_all()
    try:
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        worker = int(pidfile.read_text())
        pidfile.unlink()
        os.kill(sup.pids()["master"], signal.SIGKILL)
        assert wait_for(lambda: (sup.poll_once(), not _alive(worker) or _zombie(worker))[1])
    finally:
        sup.stop()


def _zombie(pid: int) -> bool:
    """A killed child of a dead parent waits for init to reap it; it runs no more."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
