"""predict_stream service (see README for what it does)."""
