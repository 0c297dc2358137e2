"""The spectrogram's ring of image sources: a new window touches one small source, never the span's."""

from __future__ import annotations

import numpy as np

from visualization.waterfall import IMAGE_COLUMNS, Waterfall


def _columns(first: int, count: int) -> dict[str, list]:
    return {
        "image": [np.full((2, 2), float(k)) for k in range(first, first + count)],
        "x": [30_000.0 * k for k in range(first, first + count)],
        "dw": [30_000.0] * count,
        "y": [0.0] * count,
        "dh": [1.0] * count,
    }


def _shown(waterfall: Waterfall) -> list[int]:
    return [int(image[0, 0]) for image in waterfall.images()]


def _changes(waterfall: Waterfall) -> list[int]:
    """Per source, how many times its data changed (replaced, streamed or patched) from now on."""
    seen = [0 for _ in waterfall.sources]

    def note(k: int) -> None:
        seen[k] += 1

    for k, source in enumerate(waterfall.sources):
        source.on_change("data", lambda _a, _o, _n, k=k: note(k))
    return seen


def test_a_new_window_is_streamed_into_the_newest_chunk_alone() -> None:
    waterfall = Waterfall(chunk=4, chunks=3)
    waterfall.replace(_columns(0, 6))
    assert [len(s.data["image"]) for s in waterfall.sources] == [4, 2, 0]
    seen = _changes(waterfall)
    waterfall.stream(_columns(6, 1))
    assert [len(s.data["image"]) for s in waterfall.sources] == [4, 3, 0]
    assert seen == [0, 1, 0]
    assert _shown(waterfall) == list(range(7))
    assert set(waterfall.sources[0].data) == set(IMAGE_COLUMNS)


def test_a_full_ring_drops_its_oldest_chunk_and_keeps_the_order() -> None:
    waterfall = Waterfall(chunk=4, chunks=3)
    waterfall.replace(_columns(0, 12))
    seen = _changes(waterfall)
    waterfall.stream(_columns(12, 5))  # one chunk's worth and one more: the two oldest chunks go
    assert _shown(waterfall) == list(range(8, 17))
    assert seen == [1, 1, 0]  # each refilled chunk is replaced in one message
    waterfall.stream(_columns(17, 2))
    assert _shown(waterfall) == list(range(8, 19))


def test_a_reload_longer_than_the_ring_keeps_the_newest_windows() -> None:
    waterfall = Waterfall(chunk=4, chunks=3)
    waterfall.replace(_columns(0, 20))
    assert _shown(waterfall) == list(range(8, 20))
    waterfall.stream(_columns(20, 1))
    assert _shown(waterfall) == list(range(12, 21))
    waterfall.replace(_columns(0, 0))
    assert _shown(waterfall) == [] and waterfall.newest == 0
