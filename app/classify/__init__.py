"""Classify an uploaded clip with registered models (`classifier`): the page (`pages`) and
`POST /api/v1/predict` (`api`)."""
