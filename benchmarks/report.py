"""The Markdown benchmark report: every figure beside its goal, a pass/fail mark, and the old-design ratios.

Input is `bench-results/report.json` as `benchmarks.__main__` writes it:
{"started", "results": {module: {"benchmark", "results": {...}, <context keys>} | {"error", "stderr"}}}.
A benchmark's "results" may nest groups (e.g. {"models_3": {"latency_p95_ms": {...}}}); a leaf
metric is a dict with "value" (convention: value, unit, goal, higher_is_better); a string leaf
is a note.  Any metric whose name contains "ratio" is also listed in the comparison section,
which is where the older design (30-minute batches, models reloaded each cycle) is measured.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PASS, FAIL, NO_GOAL = "✅ pass", "❌ fail", "–"


@dataclass(frozen=True)
class Figure:
    """One metric of one benchmark, with its path inside the nested results."""

    benchmark: str
    path: str
    value: float
    unit: str
    goal: float | None
    higher_is_better: bool

    @property
    def name(self) -> str:
        return self.path.rsplit(" / ", 1)[-1]

    @property
    def passed(self) -> bool | None:
        """None when there is no goal to meet."""
        if self.goal is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    @property
    def mark(self) -> str:
        return {None: NO_GOAL, True: PASS, False: FAIL}[self.passed]


def is_metric(node: Any) -> bool:
    return isinstance(node, dict) and "value" in node


def walk(benchmark: str, node: dict[str, Any], prefix: str = "") -> Iterator[Figure | tuple[str, str]]:
    """Metric leaves as Figures and string leaves as (path, note), depth first in input order."""
    for key, child in node.items():
        path = f"{prefix} / {key}" if prefix else str(key)
        if is_metric(child):
            yield Figure(
                benchmark,
                path,
                float(child["value"]),
                str(child.get("unit", "")),
                child.get("goal"),
                bool(child.get("higher_is_better", True)),
            )
        elif isinstance(child, dict):
            yield from walk(benchmark, child, path)
        elif isinstance(child, str):
            yield path, child


def fmt(value: float | None) -> str:
    """Readable numbers: thousands separators for big ones, three significant digits for small ones."""
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _goal(figure: Figure) -> str:
    if figure.goal is None:
        return "–"
    return f"{'≥' if figure.higher_is_better else '≤'} {fmt(figure.goal)}"


def _row(figure: Figure, with_benchmark: bool = False) -> str:
    cells = ([figure.benchmark] if with_benchmark else []) + [
        figure.path,
        fmt(figure.value),
        figure.unit,
        _goal(figure),
        figure.mark,
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown (pure: tested without running any benchmark)."""
    figures: list[Figure] = []
    sections: list[str] = []
    errors: list[str] = []
    for module, outcome in report.get("results", {}).items():
        if "error" in outcome:
            errors.append(module)
            sections += [
                f"## {module}",
                "",
                f"**Did not run: {outcome['error']}**",
                "",
                "```",
                str(outcome.get("stderr", "")).strip()[-1500:],
                "```",
                "",
            ]
            continue
        title = outcome.get("benchmark", module)
        items = list(walk(title, outcome.get("results", {})))
        own = [i for i in items if isinstance(i, Figure)]
        notes = [i for i in items if not isinstance(i, Figure)]
        figures += own
        context = [f"{k}: {v}" for k, v in outcome.items() if k not in ("benchmark", "results")]
        sections += [f"## {title}", ""]
        if context:
            sections += ["_" + _cell(", ".join(context)) + "_", ""]
        sections += ["| Metric | Value | Unit | Goal | Result |", "|---|---:|---|---|---|"]
        sections += [_row(f) for f in own] + [""]
        sections += [f"> {_cell(path)}: {_cell(note)}" for path, note in notes]
        if notes:
            sections.append("")

    with_goal = [f for f in figures if f.passed is not None]
    failed = [f for f in with_goal if not f.passed]
    lines = ["# Benchmark report", ""]
    if report.get("started"):
        lines += [f"Run started {report['started']}.", ""]
    lines += [
        f"- Benchmarks: {len(report.get('results', {}))} ({len(errors)} did not run)",
        f"- Figures: {len(figures)}, of which {len(with_goal)} have a goal: "
        f"{len(with_goal) - len(failed)} pass, {len(failed)} fail",
        "",
    ]
    if failed:
        lines += [
            "**Missed goals:** "
            + "; ".join(f"{f.benchmark} {f.path} = {fmt(f.value)} {f.unit} (goal {_goal(f)})" for f in failed),
            "",
        ]
    ratios = [f for f in figures if "ratio" in f.name]
    if ratios:
        lines += [
            "## Comparison with the older design",
            "",
            "The older design ran models in 30-minute batches and reloaded every model each cycle; "
            "each ratio below compares it (or another baseline named in the metric) with this platform.",
            "",
            "| Benchmark | Metric | Ratio | Unit | Goal | Result |",
            "|---|---|---:|---|---|---|",
        ]
        lines += [_row(f, with_benchmark=True) for f in ratios] + [""]
    return "\n".join(lines + sections).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Re-render a saved report: `python -m benchmarks.report [bench-results/report.json]`."""
    import json
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0] if args else "bench-results/report.json")
    target = source.with_suffix(".md")
    target.write_text(render_markdown(json.loads(source.read_text())))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
