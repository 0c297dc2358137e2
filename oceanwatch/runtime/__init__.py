"""Running the platform: the embedded stack, the supervisor, service scaffolding, health and Prometheus."""
