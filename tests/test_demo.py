"""`make demo` end to end: fresh embedded stack, every service supervised, a page that shows it is up."""

import io
import re
import socket
from pathlib import Path

import psutil
import pytest
import requests
import soundfile
from sqlalchemy import create_engine, text

from oceanwatch.testing.waiting import wait_for
from tests.demokit import start_demo

pytestmark = pytest.mark.integration


def test_demo_serves_status_restarts_services_and_stops_cleanly(tmp_path: Path) -> None:
    demo = start_demo(tmp_path / "data")
    port = int(demo.env["WEB_PORT"])
    env = demo.env
    try:
        up = wait_for(lambda: "OceanWatch is up" in demo.printed(), 120)
        assert up, demo.printed()[-3000:]
        assert f"http://127.0.0.1:{port}/" in demo.printed()

        printed = re.search(r"log in as admin / (\S+)", demo.printed())
        assert printed, "the demo did not print the admin's password"
        web = requests.Session()
        form = web.get(f"http://127.0.0.1:{port}/login", timeout=60).text  # the machine may be busy training
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', form).group(1)
        logged = web.post(
            f"http://127.0.0.1:{port}/login",
            timeout=30,
            data={"username": "admin", "password": printed.group(1), "csrf_token": csrf},
        )
        assert logged.status_code == 200 and logged.url.endswith("/home/") and 'id="home-MARS"' in logged.text
        assert "Bokeh-Session-Id" in web.get(f"http://127.0.0.1:{port}/live/", timeout=30).text

        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)  # anonymous: up or down, no details
        assert page.status_code == 200
        assert "All systems up" in page.text and "PostgreSQL" not in page.text
        assert "PostgreSQL 18" in web.get(f"http://127.0.0.1:{port}/status", timeout=10).text  # signed in
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200

        # The pipeline runs end to end: simulated audio and AIS in, the baseline trained and deployed by
        # the one-shot task, predictions from the predict stream, truth from the labeller.
        engine = create_engine(demo.database_url)

        def pipeline() -> tuple[int, ...]:
            with engine.connect() as conn:
                return tuple(
                    conn.execute(
                        text(
                            "select (select count(*) from windows), (select count(*) from ais_positions), "
                            "(select count(*) from truth_labels), (select count(*) from predictions p join models m "
                            "on m.id = p.model_id where m.name = 'baseline' and m.status = 'active')"
                        )
                    ).one()
                )

        flowing = wait_for(lambda: all(n > 0 for n in pipeline()), 300)
        assert flowing, f"windows, positions, truth labels, baseline predictions: {pipeline()}"

        def sites_served() -> set[str]:
            """The sites with windows that have both their truth and a baseline prediction."""
            with engine.connect() as conn:
                return set(
                    conn.execute(
                        text(
                            "select distinct w.hydrophone_id from windows w "
                            "join truth_labels t on t.window_id = w.id join predictions p on p.window_id = w.id"
                        )
                    ).scalars()
                )

        assert wait_for(lambda: sites_served() == {"MARS", "MOSS", "SCRUZ"}, 180), f"three sites: {sites_served()}"

        # The live page's player: a window that ingest stored, with its truth, plays its clip.
        with engine.connect() as conn:
            window_id = conn.execute(
                text(
                    "select w.id from windows w join truth_labels t on t.window_id = w.id "
                    "where w.clip_path is not null order by w.start_time desc limit 1"
                )
            ).scalar_one()
        engine.dispose()
        clip = web.get(f"http://127.0.0.1:{port}/live/clip/{window_id}", timeout=30)
        assert clip.status_code == 200 and clip.headers["Content-Type"] == "audio/flac"
        audio, rate = soundfile.read(io.BytesIO(clip.content))
        assert abs(len(audio) / rate - 30.0) < 0.01

        status = requests.get(f"http://127.0.0.1:{port}/status", timeout=10).text
        for service in ("ingest", "ais_stream", "predict_stream", "truth_labeller", "visualization"):
            assert re.search(rf'id="service-{service}" data-up="true"', status), f"{service} has no live heartbeat"

        proc = psutil.Process(demo.process.pid)
        ingest = wait_for(lambda: demo.service("ingest"), 10)
        assert ingest is not None
        first_pid = ingest.pid
        ingest.kill()
        restarted = wait_for(lambda: (s := demo.service("ingest")) is not None and s.pid != first_pid, 15)
        assert restarted, "the supervisor did not restart the killed service"
        assert "ingest exited" in demo.printed()

        children = proc.children(recursive=True)
        assert len(children) >= 6
        assert demo.stop() == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        for embedded_port in (env["EMBEDDED_PG_PORT"], env["EMBEDDED_KAFKA_PORT"]):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", int(embedded_port)), timeout=2).close()
    finally:
        demo.stop()
