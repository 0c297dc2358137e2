"""ingest service: audio files or the simulator -> windows -> log-mel features -> Postgres + Kafka."""
