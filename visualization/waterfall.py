"""The spectrogram's window images, spread over a ring of small sources instead of one big one.

BokehJS recolours (and re-rasterises) every image of a source whenever that source changes, so with
one source a new window cost every tab the whole span's pixels: an hour of 160 windows, on each
update, in each of twenty tabs.  Here a new window goes into the newest chunk of `CHUNK` windows and
only that chunk is recoloured; when the ring is full, its oldest chunk is emptied and refilled.
The tap target and each window's id stay in one index source (`spectrogram_source`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource

IMAGE_COLUMNS = ("image", "x", "dw", "y", "dh")
CHUNK = 16  # windows per source: what one update recolours at most
CHUNKS = 14  # sources in the ring: 224 windows, more than the 200 an hour view keeps


class Waterfall:
    """The ring of image sources; `replace` on a reload, `stream` for new windows."""

    def __init__(self, chunk: int = CHUNK, chunks: int = CHUNKS) -> None:
        self.chunk = chunk
        self.sources = [
            ColumnDataSource({c: [] for c in IMAGE_COLUMNS}, name=f"spectrogram_images_{k}") for k in range(chunks)
        ]
        self.newest = 0  # the chunk new windows go into

    @property
    def capacity(self) -> int:
        return self.chunk * len(self.sources)

    def replace(self, columns: dict[str, list[Any]]) -> None:
        """Show exactly these windows (the newest `capacity` of them), oldest chunk first."""
        count = len(columns["image"])
        first = max(0, count - self.capacity)
        for k, source in enumerate(self.sources):
            part = slice(first + k * self.chunk, min(first + (k + 1) * self.chunk, count))
            source.data = {c: list(columns[c][part]) for c in IMAGE_COLUMNS}
        self.newest = max(0, (count - first - 1) // self.chunk)

    def stream(self, columns: dict[str, list[Any]]) -> None:
        """Append new windows (oldest first): one message per chunk touched, and a full ring drops its
        oldest chunk to make room."""
        rows = list(zip(*(columns[c] for c in IMAGE_COLUMNS), strict=True))
        while rows:
            room = self.chunk - len(self.sources[self.newest].data["image"])
            if room == 0:  # the oldest chunk is replaced by the new windows in one message
                self.newest = (self.newest + 1) % len(self.sources)
                room = self.chunk
            batch, rows = rows[:room], rows[room:]
            new = {c: [row[i] for row in batch] for i, c in enumerate(IMAGE_COLUMNS)}
            if room == self.chunk:
                self.sources[self.newest].data = new
            else:
                self.sources[self.newest].stream(new)

    def images(self) -> list[np.ndarray]:
        """Every image shown, oldest first."""
        order = self.sources[self.newest + 1 :] + self.sources[: self.newest + 1]
        return [image for source in order for image in source.data["image"]]
