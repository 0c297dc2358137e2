"""The backups admin page (`pages`): backup runs and "backup now"."""
