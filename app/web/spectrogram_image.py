"""Spectrograms as PNG images rendered on the server, for pages that show one clip or one window.

A PNG (not a Bokeh document) because these views are static: no JavaScript, no session, and
the same picture in a screenshot, a browser and an e-mailed link.
"""

from __future__ import annotations

import base64
import io

import numpy as np

MAX_WIDTH = 1600
ROW_PIXELS = 3


def _palette() -> np.ndarray:
    from bokeh.palettes import Viridis256

    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in Viridis256], dtype=np.uint8)


def png(features: np.ndarray) -> bytes:
    """(frames, mels[, channels]) log-mel -> PNG, time left to right, low frequencies at the bottom.

    Colours span the 1st-99th percentile so one loud click does not wash out the rest.
    """
    from PIL import Image

    values = np.asarray(features, dtype=np.float32)
    if values.ndim == 3:
        values = values[..., 0]
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"expected (frames, mels) features, got shape {features.shape}")
    lo, hi = np.percentile(values, [1, 99])
    scaled = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    index = (scaled * 255).astype(np.uint8).T[::-1]  # mels as rows, highest first
    image = Image.fromarray(_palette()[index], "RGB")
    width = min(MAX_WIDTH, max(image.width * 4, 640))
    image = image.resize((width, image.height * ROW_PIXELS), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def data_uri(features: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(features)).decode()
