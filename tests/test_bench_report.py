"""The Markdown benchmark report: figures beside goals, pass/fail in both directions, ratios compared."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import FAIL, NO_GOAL, PASS, Figure, fmt, main, render_markdown, walk


def metric(value: float, unit: str, goal: float | None = None, higher_is_better: bool = True) -> dict:
    return {"value": value, "unit": unit, "goal": goal, "higher_is_better": higher_is_better}


REPORT = {
    "started": "2026-11-23T18:00:00Z",
    "results": {
        "bench_predict": {
            "benchmark": "predict_stream",
            "cpu_count": 2,
            "results": {
                "models_3": {
                    "latency_p95_ms": metric(420.0, "ms", 1000.0, False),
                    "realtime_multiple": metric(250.0, "x real time", 300.0),
                    "older_design": {"latency_p95_ms": metric(1_712_000.0, "ms", None, False)},
                    "latency_ratio_old_over_new": metric(4076.2, "x"),
                },
                "added_model_cost_ratio": metric(0.4, "x of the first model", 1.0, False),
                "note": "windows spaced | 0.3 s apart",
            },
        },
        "bench_broken": {"error": "exit 1", "stderr": "Traceback ...\nValueError: boom"},
    },
}


def table_row(markdown: str, startswith: str) -> list[str]:
    rows = [line for line in markdown.splitlines() if line.startswith(startswith)]
    assert len(rows) == 1, rows
    return [cell.strip() for cell in rows[0].strip("|").split(" | ")]


def test_pass_and_fail_follow_the_direction_of_the_goal() -> None:
    def fig(value: float, goal: float | None, higher: bool) -> Figure:
        return Figure("b", "m", value, "u", goal, higher)

    assert fig(5, 4, True).mark == PASS and fig(3, 4, True).mark == FAIL and fig(4, 4, True).mark == PASS
    assert fig(3, 4, False).mark == PASS and fig(5, 4, False).mark == FAIL and fig(4, 4, False).mark == PASS
    assert fig(5, None, True).mark == NO_GOAL


def test_nested_results_are_flattened_with_their_paths_and_notes() -> None:
    items = list(walk("p", REPORT["results"]["bench_predict"]["results"]))
    paths = [i.path if isinstance(i, Figure) else i[0] for i in items]
    assert paths == [
        "models_3 / latency_p95_ms",
        "models_3 / realtime_multiple",
        "models_3 / older_design / latency_p95_ms",
        "models_3 / latency_ratio_old_over_new",
        "added_model_cost_ratio",
        "note",
    ]


def test_every_figure_is_shown_beside_its_goal_with_a_mark() -> None:
    md = render_markdown(REPORT)
    assert table_row(md, "| models_3 / latency_p95_ms |") == [
        "models_3 / latency_p95_ms",
        "420.0",
        "ms",
        "≤ 1,000",
        PASS,
    ]
    assert table_row(md, "| models_3 / realtime_multiple |") == [
        "models_3 / realtime_multiple",
        "250.0",
        "x real time",
        "≥ 300.0",
        FAIL,
    ]
    assert table_row(md, "| models_3 / older_design / latency_p95_ms |")[1:] == ["1,712,000", "ms", "–", NO_GOAL]
    assert "- Figures: 5, of which 3 have a goal: 2 pass, 1 fail" in md
    assert "**Missed goals:** predict_stream models_3 / realtime_multiple = 250.0 x real time (goal ≥ 300.0)" in md
    assert "_cpu_count: 2_" in md


def test_ratios_get_a_comparison_section() -> None:
    md = render_markdown(REPORT)
    comparison = md.split("## Comparison with the older design", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in comparison.splitlines() if line.startswith("| predict_stream |")]
    assert [r.split(" | ")[1] for r in rows] == ["models_3 / latency_ratio_old_over_new", "added_model_cost_ratio"]
    assert "4,076" in rows[0] and PASS in rows[1]
    no_ratios = {"results": {"b": {"benchmark": "b", "results": {"x": metric(1.0, "s")}}}}
    assert "Comparison" not in render_markdown(no_ratios)


def test_a_benchmark_that_did_not_run_is_reported_with_its_error() -> None:
    md = render_markdown(REPORT)
    assert "- Benchmarks: 2 (1 did not run)" in md
    broken = md.split("## bench_broken", 1)[1]
    assert "**Did not run: exit 1**" in broken and "ValueError: boom" in broken


def test_table_cells_are_escaped() -> None:
    md = render_markdown(REPORT)
    assert "> note: windows spaced \\| 0.3 s apart" in md


def test_number_formatting() -> None:
    assert [fmt(v) for v in (None, 0.0123456, 3.14159, 42.04, 12345.6)] == ["–", "0.0123", "3.14", "42.0", "12,346"]


def test_a_saved_report_can_be_rendered_again(tmp_path: Path) -> None:
    source = tmp_path / "report.json"
    source.write_text(json.dumps(REPORT))
    assert main([str(source)]) == 0
    assert (tmp_path / "report.md").read_text() == render_markdown(REPORT)
