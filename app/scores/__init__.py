"""The scores area (/scores and /api/v1/metrics): models scored against truth (`actions`), the page with
its plots (`pages`) and the API (`api`)."""
