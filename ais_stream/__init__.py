"""ais_stream: AIS from TCP, UDP, log files, an HTTP API or the simulator into Postgres and Kafka."""
