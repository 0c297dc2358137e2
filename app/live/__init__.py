"""The live area: the embedded Bokeh dashboard and window clips (`pages`), and the JSON listings of
windows, predictions, vessels and positions (`api`)."""
