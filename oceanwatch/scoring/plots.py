"""Pure plot builders for the metrics page: scores from `oceanwatch.scoring.scores` in, Bokeh figures out.

The metrics page is static (one request, one set of numbers), so these figures are embedded
with `bokeh.embed.components` rather than served by the live Bokeh server.  Nothing here
queries the database, so each figure can be checked in a test with hand-made scores.

Every Bokeh model (figure, renderer, glyph, source, view) is built and serialised again on each
request, and that, not the data, is what the page's time grows with.  So the markers of every
model are one renderer over one source (a `model` column tells the rows apart), and the confusion
matrices are one figure with a select, not a figure per model.  Lines keep a renderer and a source
each: the legend hides them one by one, and Bokeh cannot draw a line through a filtered view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.core.property.vectorization import Field
from bokeh.layouts import column
from bokeh.models import (
    CDSView,
    Column,
    ColumnDataSource,
    CustomJS,
    FactorRange,
    GroupFilter,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.models.widgets import Select
from bokeh.palettes import Blues256, Category10_10
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

TREND_METRICS = {"accuracy": "solid", "macro_f1": "dashed"}
CONFUSION_COLUMNS = ("truth", "predicted", "count", "share", "label", "text_color", "line")

SHOW_MODEL_JS = """
const classes = all_classes[cb_obj.options.indexOf(cb_obj.value)]
filter.group = cb_obj.value
x_range.factors = classes
y_range.factors = [...classes].reverse()
title.text = `Confusion: ${cb_obj.value}`
"""


def model_color(index: int) -> str:
    """The colour of the `index`-th model, the same on the live view and the score pages."""
    return Category10_10[index % len(Category10_10)]


def _columns(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


def _models_source(rows: Mapping[str, Sequence[Mapping[str, Any]]], names: Sequence[str]) -> ColumnDataSource:
    """One source for the rows of every model (label -> rows), told apart by a `model` column holding the label."""
    return ColumnDataSource(
        {
            "model": [label for label, model_rows in rows.items() for _ in model_rows],
            **_columns([row for model_rows in rows.values() for row in model_rows], names),
        }
    )


def _model_colors(labels: Sequence[str]) -> Field:
    """A `color` argument colouring each row by its model, as the model's line is coloured."""
    return factor_cmap("model", [model_color(i) for i in range(len(labels))], list(labels))


def _confusion_cells(
    classes: Sequence[str], matrix: Sequence[Sequence[int]], highlight: str | None
) -> list[dict[str, Any]]:
    """One row per (truth, prediction) cell: its count, its share of the truth row, and how to draw it."""
    counts = np.asarray(matrix, dtype=int).reshape(len(classes), len(classes))
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    return [
        {
            "truth": t,
            "predicted": p,
            "count": int(counts[i, j]),
            "share": float(share[i, j]),
            "label": str(counts[i, j]),
            "text_color": "white" if share[i, j] > 0.55 else "#1d2733",
            "line": 2 if highlight in (t, p) else 0,
        }
        for i, t in enumerate(classes)
        for j, p in enumerate(classes)
    ]


def _hover(fig: figure) -> HoverTool:
    """The figure's hover tool (made by `tools="hover,..."`), to set its tooltips."""
    return next(tool for tool in fig.tools if isinstance(tool, HoverTool))


def confusion_figure(
    matrices: Mapping[str, tuple[Sequence[str], Sequence[Sequence[int]]]],
    highlight: str | None = None,
    name: str = "confusion",
    size: int = 380,
) -> Column:
    """Every model's counts per (truth, prediction) cell in one figure (`{name}-matrix`), one model at a time:
    the select above it (`{name}-model`, hidden for a single model) switches the model shown.

    `matrices` maps a model's label to its (classes, matrix). Cells are coloured by the share of the
    truth row (recall per cell), not the raw count, so a rare class's errors are as visible as a common
    one's; the highlighted class's row and column are outlined.
    """
    labels = list(matrices)
    source = _models_source(
        {label: _confusion_cells(classes, matrix, highlight) for label, (classes, matrix) in matrices.items()},
        CONFUSION_COLUMNS,
    )
    first = list(matrices[labels[0]][0])
    view = CDSView(filter=GroupFilter(column_name="model", group=labels[0]))
    fig = figure(
        title=f"Confusion: {labels[0]}",
        x_range=FactorRange(factors=first),
        y_range=FactorRange(factors=first[::-1]),
        width=size,
        height=size,
        tools="hover,save",
        toolbar_location="right",
        name=f"{name}-matrix",
        x_axis_location="above",
    )
    mapper = LinearColorMapper(palette=list(reversed(Blues256)), low=0.0, high=1.0)
    fig.rect(
        x="predicted",
        y="truth",
        width=1,
        height=1,
        source=source,
        view=view,
        fill_color={"field": "share", "transform": mapper},
        line_color="#f9a825",
        line_width="line",
    )
    fig.text(
        x="predicted",
        y="truth",
        text="label",
        source=source,
        view=view,
        text_align="center",
        text_baseline="middle",
        text_color="text_color",
        text_font_size="11pt",
    )
    fig.xaxis.axis_label, fig.yaxis.axis_label = "predicted", "truth"
    _hover(fig).tooltips = [
        ("truth", "@truth"),
        ("predicted", "@predicted"),
        ("windows", "@count"),
        ("share of truth row", "@share{0.0%}"),
    ]
    fig.grid.visible = False
    choices: list[str | None] = list(labels)  # the option type Select declares
    select = Select(title="Model", value=labels[0], options=choices, visible=len(labels) > 1, name=f"{name}-model")
    select.js_on_change(
        "value",
        CustomJS(
            code=SHOW_MODEL_JS,
            args={
                "filter": view.filter,
                "x_range": fig.x_range,
                "y_range": fig.y_range,
                "title": fig.title,
                "all_classes": [list(classes) for classes, _ in matrices.values()],
            },
        ),
    )
    return column(select, fig, name=name)


def trend_figure(series: Mapping[str, Sequence[Mapping[str, Any]]], bucket: str, name: str = "trend") -> figure:
    """Accuracy (solid) and macro-F1 (dashed) per day or week, one colour per model."""
    fig = figure(
        title=f"Accuracy and macro-F1 per {bucket}",
        x_axis_type="datetime",
        height=300,
        sizing_mode="stretch_width",
        y_range=Range1d(start=0, end=1.02),
        tools="xpan,xwheel_zoom,reset,save",
        name=name,
    )
    rows = {
        label: [{**p, "x": dt.datetime.fromisoformat(p["bucket"])} for p in points] for label, points in series.items()
    }
    names = ("x", "n", *TREND_METRICS)
    for i, (label, points) in enumerate(rows.items()):
        source = ColumnDataSource(_columns(points, names))
        for metric, dash in TREND_METRICS.items():
            fig.line(
                "x",
                metric,
                source=source,
                color=model_color(i),
                line_dash=dash,
                line_width=2,
                legend_label=f"{label} {metric.replace('_', '-')}",
            )
    markers = _models_source(rows, names)
    for metric in TREND_METRICS:
        fig.scatter("x", metric, source=markers, color=_model_colors(list(rows)), size=6)
    fig.add_tools(
        HoverTool(
            tooltips=[
                ("bucket", "@x{%F}"),
                ("windows", "@n"),
                ("accuracy", "@accuracy{0.000}"),
                ("macro-F1", "@macro_f1{0.000}"),
            ],
            formatters={"@x": "datetime"},
        )
    )
    fig.yaxis.axis_label = "score"
    if fig.legend:
        fig.legend.location, fig.legend.click_policy = "bottom_left", "hide"
    return fig


def reliability_figure(series: Mapping[str, Mapping[str, Any]], name: str = "reliability", size: int = 380) -> figure:
    """Accuracy against mean confidence per confidence bin (the diagonal is perfect calibration)."""
    fig = figure(
        title="Reliability (top-class confidence)",
        width=size + 120,
        height=size,
        x_range=Range1d(start=0, end=1),
        y_range=Range1d(start=0, end=1),
        tools="hover,save",
        name=name,
    )
    fig.line([0, 1], [0, 1], color="#9e9e9e", line_dash="dotted", legend_label="perfect")
    rows = {label: cal["bins"] for label, cal in series.items()}
    names = ("confidence", "accuracy", "count", "lower", "upper")
    for i, (label, cal) in enumerate(series.items()):
        fig.line(
            "confidence",
            "accuracy",
            source=ColumnDataSource(_columns(cal["bins"], names)),
            color=model_color(i),
            line_width=2,
            legend_label=f"{label} (ECE {cal['ece']:.3f})",
        )
    fig.scatter("confidence", "accuracy", source=_models_source(rows, names), color=_model_colors(list(rows)), size=8)
    _hover(fig).tooltips = [
        ("bin", "@lower{0.0}-@upper{0.0}"),
        ("windows", "@count"),
        ("confidence", "@confidence{0.000}"),
        ("accuracy", "@accuracy{0.000}"),
    ]
    fig.xaxis.axis_label, fig.yaxis.axis_label = "mean confidence", "accuracy"
    fig.legend.location = "top_left"
    return fig
