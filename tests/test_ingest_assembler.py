"""Cutting audio into windows on the global grid across file boundaries, gaps, overlaps and late files."""

from __future__ import annotations

import numpy as np

from ingest.assembler import Segment, WindowAssembler

SR = 100  # a low rate keeps the arrays tiny; the logic is rate-independent
T0 = 1_793_491_200.0  # 2026-11-01T00:00Z, a multiple of the 22.5 s hop


def ramp(start: float, seconds: float, channels: int = 1) -> Segment:
    """Audio whose every sample is its own absolute time: windows can be checked sample by sample."""
    n = int(round(seconds * SR))
    t = start + np.arange(n) / SR
    return Segment("H", start, np.repeat((t - T0)[:, None], channels, axis=1).astype(np.float32), SR)


def assembler() -> WindowAssembler:
    return WindowAssembler(30.0, 22.5, gap_tolerance_s=0.05)


def check(window, start: float) -> None:
    assert window.start == start and window.audio.shape == (30 * SR, window.channels)
    assert np.allclose(window.audio[:, 0], start - T0 + np.arange(30 * SR) / SR, atol=1e-3)


def test_one_long_segment_gives_every_grid_window() -> None:
    windows = assembler().push(ramp(T0 + 5.0, 100.0))  # covers [5, 105)
    assert [w.start - T0 for w in windows] == [22.5, 45.0, 67.5]
    for w in windows:
        check(w, w.start)


def test_windows_span_contiguous_files_and_come_out_once() -> None:
    a = assembler()
    first = a.push(ramp(T0, 40.0))
    second = a.push(ramp(T0 + 40.0, 40.0))
    assert [w.start - T0 for w in first] == [0.0]
    assert [w.start - T0 for w in second] == [22.5, 45.0]  # 22.5-52.5 spans both files
    for w in first + second:
        check(w, w.start)


def test_small_clock_jitter_between_files_is_tolerated() -> None:
    a = assembler()
    a.push(ramp(T0, 40.0))
    windows = a.push(ramp(T0 + 40.02, 40.0))
    assert [w.start - T0 for w in windows] == [22.5, 45.0]
    assert a.stats.gaps == 0


def test_a_gap_drops_only_the_windows_spanning_it() -> None:
    a = assembler()
    before = a.push(ramp(T0, 40.0))
    after = a.push(ramp(T0 + 50.0, 60.0))  # gap 40-50; covers 50-110
    assert [w.start - T0 for w in before] == [0.0]
    assert [w.start - T0 for w in after] == [67.5]  # 22.5 and 45 would contain the gap
    assert a.stats.gaps == 1
    check(after[0], after[0].start)


def test_an_overlapping_file_repeats_nothing() -> None:
    a = assembler()
    first = a.push(ramp(T0, 60.0))
    second = a.push(ramp(T0 + 45.0, 40.0))  # 45-85 overlaps 45-60
    assert [w.start - T0 for w in first] == [0.0, 22.5]
    assert [w.start - T0 for w in second] == [45.0]
    assert a.stats.overlaps == 1 and abs(a.stats.overlap_seconds - 15.0) < 1e-6
    check(second[0], second[0].start)


def test_a_late_file_is_still_cut_into_its_windows() -> None:
    a = assembler()
    a.push(ramp(T0 + 100.0, 40.0))
    late = a.push(ramp(T0, 40.0))
    assert [w.start - T0 for w in late] == [0.0]
    assert a.stats.late_segments == 1
    later = a.push(ramp(T0 + 140.0, 40.0))  # the main stream goes on where it was
    assert [w.start - T0 for w in later] == [112.5, 135.0]


def test_a_change_of_channels_restarts_the_buffer() -> None:
    a = assembler()
    a.push(ramp(T0, 40.0, channels=1))
    windows = a.push(ramp(T0 + 40.0, 40.0, channels=4))
    assert [w.start - T0 for w in windows] == [45.0] and windows[0].channels == 4
    assert a.stats.format_changes == 1


def test_memory_stays_bounded_on_a_long_stream() -> None:
    a = assembler()
    for k in range(200):
        a.push(ramp(T0 + 10.0 * k, 10.0))
    assert a._buffer is not None and a._buffer.shape[0] <= 40 * SR
    assert a.stats.windows == int((2000 - 30) // 22.5) + 1  # every window of [0, 2000)


def test_another_format_before_the_next_window_is_cut_afresh_and_the_stream_goes_on() -> None:
    a = assembler()
    a.push(ramp(T0 + 450.0, 52.5))  # next window 495
    late = a.push(Segment("H", T0, np.zeros((int(52.5 * 2 * SR), 2), np.float32), 2 * SR))  # another recorder, earlier
    assert [(w.start - T0, w.sample_rate, w.channels) for w in late] == [(0.0, 2 * SR, 2), (22.5, 2 * SR, 2)]
    overlapping = a.push(ramp(T0 + 460.0, 70.0, channels=2))  # new format, over windows already out
    assert [w.start - T0 for w in overlapping] == [472.5, 495.0] and a.stats.format_changes == 1


def test_an_origin_moves_the_grid_to_a_files_start() -> None:
    a = WindowAssembler(30.0, 22.5, origin=T0 + 5.0)
    windows = a.push(ramp(T0 + 5.0, 30.08)) + a.push(ramp(T0 + 35.08, 30.0))
    assert [w.start - T0 for w in windows] == [5.0, 27.5]
    check(windows[0], T0 + 5.0)
