"""What the platform stores per site and for how long: measured usage and the retention rule."""
