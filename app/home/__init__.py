"""The home page: every hydrophone at a glance, one click from its live, review and metrics pages."""
