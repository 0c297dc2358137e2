"""Audio as the platform handles it: feature specs and spectrograms, clips, uploaded recordings."""
