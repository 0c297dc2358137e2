"""Pure plot builders for the metrics page: scores from `oceanwatch.scoring` in, Bokeh figures out.

The metrics page is static (one request, one set of numbers), so these figures are embedded
with `bokeh.embed.components` rather than served by the live Bokeh server.  Nothing here
queries the database, so each figure can be checked in a test with hand-made scores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
from bokeh.palettes import Blues256
from bokeh.plotting import figure

from visualization.plots import model_color

TREND_METRICS = {"accuracy": "solid", "macro_f1": "dashed"}


def confusion_figure(classes: Sequence[str], matrix: Sequence[Sequence[int]], title: str, name: str,
                     highlight: str | None = None, size: int = 380):
    """Counts per (truth, prediction) cell, coloured by the share of the truth row (recall per cell).

    Colour by row share, not raw count, so a rare class's errors are as visible as a common one's.
    """
    counts = np.asarray(matrix, dtype=float).reshape(len(classes), len(classes))
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    truth, predicted = np.meshgrid(classes, classes, indexing="ij")
    source = ColumnDataSource({
        "truth": truth.ravel().tolist(), "predicted": predicted.ravel().tolist(),
        "count": counts.astype(int).ravel().tolist(), "share": share.ravel().tolist(),
        "label": [str(int(c)) for c in counts.ravel()],
        "text_color": ["white" if s > 0.55 else "#1d2733" for s in share.ravel()],
        "line": [2 if highlight in (t, p) else 0 for t, p in zip(truth.ravel(), predicted.ravel())],
    })
    fig = figure(title=title, x_range=FactorRange(*classes), y_range=FactorRange(*reversed(classes)),
                 width=size, height=size, tools="hover,save", toolbar_location="right", name=name,
                 x_axis_location="above")
    mapper = LinearColorMapper(palette=list(reversed(Blues256)), low=0.0, high=1.0)
    fig.rect(x="predicted", y="truth", width=1, height=1, source=source,
             fill_color={"field": "share", "transform": mapper}, line_color="#f9a825", line_width="line")
    fig.text(x="predicted", y="truth", text="label", source=source, text_align="center",
             text_baseline="middle", text_color="text_color", text_font_size="11pt")
    fig.xaxis.axis_label, fig.yaxis.axis_label = "predicted", "truth"
    fig.select_one(HoverTool).tooltips = [("truth", "@truth"), ("predicted", "@predicted"), ("windows", "@count"),
                                          ("share of truth row", "@share{0.0%}")]
    fig.grid.visible = False
    return fig


def trend_figure(series: Mapping[str, Sequence[Mapping[str, Any]]], bucket: str, name: str = "trend"):
    """Accuracy (solid) and macro-F1 (dashed) per day or week, one colour per model."""
    fig = figure(title=f"Accuracy and macro-F1 per {bucket}", x_axis_type="datetime", height=300,
                 sizing_mode="stretch_width", y_range=(0, 1.02), tools="xpan,xwheel_zoom,reset,save", name=name)
    for i, (label, points) in enumerate(series.items()):
        source = ColumnDataSource({
            "x": [dt.datetime.fromisoformat(p["bucket"]) for p in points],
            "n": [p["n"] for p in points],
            **{metric: [p[metric] for p in points] for metric in TREND_METRICS}})
        for metric, dash in TREND_METRICS.items():
            fig.line("x", metric, source=source, color=model_color(i), line_dash=dash, line_width=2,
                     legend_label=f"{label} {metric.replace('_', '-')}")
            fig.scatter("x", metric, source=source, color=model_color(i), size=6)
    fig.add_tools(HoverTool(tooltips=[("bucket", "@x{%F}"), ("windows", "@n"), ("accuracy", "@accuracy{0.000}"),
                                      ("macro-F1", "@macro_f1{0.000}")], formatters={"@x": "datetime"}))
    fig.yaxis.axis_label = "score"
    if fig.legend:
        fig.legend.location, fig.legend.click_policy = "bottom_left", "hide"
    return fig


def reliability_figure(series: Mapping[str, Mapping[str, Any]], name: str = "reliability", size: int = 380):
    """Accuracy against mean confidence per confidence bin (the diagonal is perfect calibration)."""
    fig = figure(title="Reliability (top-class confidence)", width=size + 120, height=size, x_range=(0, 1),
                 y_range=(0, 1), tools="hover,save", name=name)
    fig.line([0, 1], [0, 1], color="#9e9e9e", line_dash="dotted", legend_label="perfect")
    for i, (label, cal) in enumerate(series.items()):
        bins = cal["bins"]
        source = ColumnDataSource({k: [b[k] for b in bins] for k in ("confidence", "accuracy", "count", "lower",
                                                                      "upper")})
        legend = f"{label} (ECE {cal['ece']:.3f})"
        fig.line("confidence", "accuracy", source=source, color=model_color(i), line_width=2, legend_label=legend)
        fig.scatter("confidence", "accuracy", source=source, color=model_color(i), size=8, legend_label=legend)
    fig.select_one(HoverTool).tooltips = [("bin", "@lower{0.0}-@upper{0.0}"), ("windows", "@count"),
                                          ("confidence", "@confidence{0.000}"), ("accuracy", "@accuracy{0.000}")]
    fig.xaxis.axis_label, fig.yaxis.axis_label = "mean confidence", "accuracy"
    fig.legend.location = "top_left"
    return fig
