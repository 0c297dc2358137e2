"""Running registered models: loading, uncertainty, and the prediction rows they produce."""
