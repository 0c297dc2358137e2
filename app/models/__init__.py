"""The model registry area: upload, state changes and listings (`actions`), the page (`pages`) and the
API (`api`)."""
