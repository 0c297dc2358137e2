"""Model training: the baseline CNN, datasets from the simulator and from stored labelled windows."""
