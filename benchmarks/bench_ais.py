"""AIS throughput: NMEA sentences decoded per second, positions stored (and published) per second.

Input is the simulator's traffic (a busy scenario, encoded once before timing): a realistic mix
of class A and B positions and two-part static messages.  Storing runs in the service's batch
size, into the stack's database, with ranges from the configured hydrophone; the rows written
are removed afterwards.  Run under the stack: `python -m oceanwatch.runtime.stack run ... -- python -m
benchmarks.bench_ais`.
"""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import delete, exists

from ais_stream.decode import AisDecoder, PositionReport
from ais_stream.service import AisPipeline
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import AISPosition, Vessel
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.kafka import Publisher, PublishQueue, ensure_topics
from oceanwatch.sim.nmea import NmeaSimulator
from oceanwatch.sim.scenario import Scenario

SOURCE = "bench"


def main() -> None:
    settings = Settings()
    url = settings.require_database_url()
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    sc = Scenario(seed=987, vessels_per_hour=40)
    t0 = sc.start + 8 * 3600
    lines = [line.encode() for _, line in NmeaSimulator(sc).sentences(t0, t0 + 2 * 3600)]

    decoder = AisDecoder()
    start, start_cpu = time.perf_counter(), time.process_time()
    reports = [r for line in lines for r in decoder.feed(line, t0)]
    decode_s, decode_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    positions = sum(isinstance(r, PositionReport) for r in reports)

    engine = engine_for(url)
    batch = settings.ais.batch_size
    store_only = AisPipeline(engine, None, SOURCE)
    store_only.sites  # read the hydrophones before timing
    half = len(reports) // 2
    start = time.perf_counter()
    stored = sum(len(store_only.store_and_publish(reports[i : i + batch])) for i in range(0, half, batch))
    store_s = time.perf_counter() - start

    topic = f"bench.ais.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings.require_kafka(), settings.kafka.partitions, (topic,))
    outbox = PublishQueue(Publisher(settings), topic)
    publishing = AisPipeline(engine, outbox, SOURCE)
    start = time.perf_counter()
    published = sum(len(publishing.store_and_publish(reports[i : i + batch])) for i in range(half, len(reports), batch))
    outbox.drain(120)  # timed until the broker acknowledged every position
    publish_s = time.perf_counter() - start
    outbox.close()

    with engine.begin() as conn:  # leave the database as it was
        conn.execute(delete(AISPosition).where(AISPosition.source == SOURCE))
        conn.execute(
            delete(Vessel).where(
                Vessel.mmsi.in_({r.mmsi for r in reports}), ~exists().where(AISPosition.mmsi == Vessel.mmsi)
            )
        )

    print(
        json.dumps(
            {
                "benchmark": "ais",
                "results": {
                    "sentences_decoded_per_s": {
                        "value": round(len(lines) / decode_s),
                        "unit": "sentences/s",
                        "goal": 20000,
                        "higher_is_better": True,
                    },
                    # Decoding is one thread of pure CPU: per CPU second is its speed on a core of its own,
                    # whatever else the shared machine is running meanwhile.
                    "sentences_decoded_per_cpu_s": {
                        "value": round(len(lines) / decode_cpu_s),
                        "unit": "sentences/s",
                        "goal": 20000,
                        "higher_is_better": True,
                    },
                    "positions_stored_per_s": {
                        "value": round(stored / store_s),
                        "unit": "positions/s",
                        "goal": 5000,
                        "higher_is_better": True,
                    },
                    "positions_stored_and_published_per_s": {
                        "value": round(published / publish_s),
                        "unit": "positions/s",
                        "goal": None,
                        "higher_is_better": True,
                    },
                },
                "sentences": len(lines),
                "positions": positions,
                "rejected": dict(decoder.rejected),
                "batch_size": batch,
                "hydrophones": len(store_only.sites),
            }
        )
    )


if __name__ == "__main__":
    main()
