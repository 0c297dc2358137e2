"""Making models from labelled windows: the training page (`pages`), and the API for training jobs and
prototype models (`api`)."""
