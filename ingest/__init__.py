"""ingest service (see README for what it does)."""
