"""The data management area: ship classes, the AIS-type mapping, overrides and relabelling (`actions`),
its page (`pages`) and its API (`api`)."""
