"""Background jobs as the web shows them (`actions`) and their API (`api`)."""
