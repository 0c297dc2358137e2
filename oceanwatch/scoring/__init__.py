"""Model scores against the truth: measures, the daily rollup, and the figures of the score pages."""
