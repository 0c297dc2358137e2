"""Pure plot builders for the live dashboard: sources and parameters in, Bokeh models out.

Nothing here touches the database or the clock, so each figure can be built and checked in a
test with hand-made data; `visualization.live` wires them to queries and streaming.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bokeh.models import (
    BoxAnnotation,
    CDSView,
    ColorBar,
    ColumnDataSource,
    CrosshairTool,
    CustomJS,
    Div,
    FactorRange,
    FixedTicker,
    GroupFilter,
    HoverTool,
    LabelSet,
    Legend,
    LinearColorMapper,
    Span,
    TapTool,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from oceanwatch.coastline import shores
from oceanwatch.geo import GEOD, box_around
from oceanwatch.scoring.plots import model_color

UNCERTAINTY_METRICS = ("entropy", "epistemic", "aleatoric")
UNKNOWN_COLOR = "#9e9e9e"
SEA_COLOR = "#eaf2f8"
LAND_COLOR = "#e6dfc8"
COAST_COLOR = "#8d8570"

SPECTROGRAM_COLUMNS = ("window_id", "image", "x", "dw", "y", "dh", "clip")
SPECTROGRAM_INDEX_COLUMNS = tuple(c for c in SPECTROGRAM_COLUMNS if c != "image")
PREDICTION_COLUMNS = (
    "id",
    "model",
    "window_id",
    "x",
    "width",
    "start",
    "predicted",
    "color",
    "confidence",
    *UNCERTAINTY_METRICS,
)
VESSEL_COLUMNS = (
    "mmsi",
    "name",
    "type",
    "lon",
    "lat",
    "class_code",
    "color",
    "sog",
    "cog",
    "marker",
    "angle",
    "range_km",
    "bearing",
    "time",
    "track_lon",
    "track_lat",
)
TRUTH_COLUMNS = (
    "window_id",
    "x",
    "width",
    "lane",
    "label",
    "status",
    "classes",
    "vessels",
    "buffer",
    "color",
    "line",
)
TRUTH_LANE = "AIS truth"
# How the truth lane fills a window by status (None: its class colour); ambiguous ones are also hatched.
TRUTH_STYLE = {"labelled": None, "ambiguous": UNKNOWN_COLOR, "pending": "#ffffff"}
PENDING_LINE = "#607d8b"


def empty_source(columns: Sequence[str], name: str | None = None) -> ColumnDataSource:
    """An empty source with the given columns; the name lets tests and scripts find it in the browser."""
    return ColumnDataSource({c: [] for c in columns}, name=name)


def spectrogram_figure(source: ColumnDataSource, images: Sequence[ColumnDataSource], unit: str, height: int = 290):
    """A waterfall: each window's image placed at its start time, side by side, coloured by level.

    The images come from `images` (`visualization.waterfall`'s chunks); `source` holds each window's
    id and extent, drawn as an invisible block a tap selects.  Images are in `unit` (a spectral density
    level, see `oceanwatch.audio.levels`) on a frequency axis whose coordinate and Hz ticks
    `set_frequency_axis` sets; the colour bar sits above the plot so the frame stays as wide as the
    lanes sharing its time axis."""
    fig = figure(
        title="Spectrogram",
        x_axis_type="datetime",
        height=height,
        sizing_mode="stretch_width",
        tools="xpan,xwheel_zoom,reset,tap",
        name="spectrogram",
    )
    mapper = LinearColorMapper(palette=Viridis256, name="spectrogram_colors")
    for chunk in images:
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", color_mapper=mapper, source=chunk)
    fig.block(x="x", y="y", width="dw", height="dh", fill_alpha=0, line_alpha=0, source=source)
    fig.add_layout(
        ColorBar(
            color_mapper=mapper,
            orientation="horizontal",
            title=unit,
            height=8,
            location="top_left",
            padding=2,
            title_standoff=2,
            name="spectrogram_colorbar",
        ),
        "above",
    )
    return fig


def set_frequency_axis(fig, ticks: dict[float, str], scale: str) -> None:
    """Label the frequency axis in Hz at `ticks` (axis coordinate -> label) for the named scale."""
    fig.yaxis.ticker = FixedTicker(ticks=sorted(ticks))
    fig.yaxis.major_label_overrides = dict(ticks)
    fig.yaxis.axis_label = f"frequency ({scale} scale)"


def make_lanes_selectable(figures: Sequence) -> list[BoxAnnotation]:
    """A tap on any lane selects (never fades the rest: the band marks the chosen window) and each lane
    gets a band that `show_selected` places over the chosen window, the same in every lane."""
    bands = []
    for fig in figures:
        fig.select_one(TapTool).behavior = "select"
        for renderer in fig.renderers:
            keep_unselected_visible(renderer)
        band = BoxAnnotation(fill_color="#ff9800", fill_alpha=0.25, line_color="#e65100", visible=False)
        fig.add_layout(band)
        bands.append(band)
    bands[0].name = "selected_window"
    return bands


def keep_unselected_visible(renderer) -> None:
    renderer.nonselection_glyph = renderer.glyph


def show_selected(bands: Sequence[BoxAnnotation], start_ms: float, end_ms: float) -> None:
    for band in bands:
        band.update(left=start_ms, right=end_ms, visible=True)


# Writes the new HTML into the Div's element; before its view exists the Div's own text is what renders.
_QUIET_HTML = """
const view = Bokeh.index.find_one(div)
if (view != null && view.markup_el != null) { view.markup_el.innerHTML = html.data.html[0] }
"""


class QuietDiv:
    """A fixed-size Div whose changing text the browser takes without re-laying out the page.

    BokehJS 3.9 re-lays out the whole document whenever a Div's text changes (every plot's axes are
    measured again: about 110 ms per tab), and the live page's status changes with every update.
    Once shown, the text goes through a one-cell source whose change a CustomJS writes into the Div's
    element; the Div's size is fixed, so nothing around it moves.
    """

    def __init__(self, name: str, width: int, height: int, text: str = "", styles: dict[str, str] | None = None):
        self.div = Div(text=text, name=name, width=width, height=height, styles=styles or {})
        self._html = ColumnDataSource({"html": [text]}, name=f"{name}_html")
        self._html.js_on_change("data", CustomJS(args={"div": self.div, "html": self._html}, code=_QUIET_HTML))
        self.div.tags = [self._html]  # so the source goes wherever the Div goes

    @property
    def text(self) -> str:
        return self._html.data["html"][0]

    @text.setter
    def text(self, value: str) -> None:
        if value == self.text:
            return
        if self.div.document is None:  # not shown yet: the page renders the Div's own text
            self.div.text = value
        self._html.data = {"html": [value]}


def link_time_cursor(figures: Sequence) -> Span:
    """One vertical line that follows the pointer over any of `figures` and shows in all of them at
    once (a crosshair per figure sharing a single overlay): the lanes' common time, read across."""
    # Not synced: the browser moves it on every pointer move, and the server has no use for its position.
    cursor = Span(dimension="height", line_color="#d32f2f", line_width=1, name="time_cursor", syncable=False)
    for fig in figures:
        fig.add_tools(CrosshairTool(dimensions="height", overlay=cursor))
    return cursor


def set_color_range(fig, low: float, high: float) -> None:
    mapper = fig.select_one(LinearColorMapper)
    mapper.low, mapper.high = low, high


def display_image(image: np.ndarray, max_columns: int = 64) -> np.ndarray:
    """Average adjacent frames so one window is at most `max_columns` wide: the screen shows a window in
    a few dozen pixels, and full resolution would make each session's first load megabytes larger."""
    factor = -(-image.shape[1] // max_columns)
    if factor <= 1:
        return image
    usable = image.shape[1] // factor * factor
    return image[:, :usable].reshape(image.shape[0], -1, factor).mean(axis=2, dtype=np.float32)


def timeline_figure(source: ColumnDataSource, model_labels: Sequence[str], x_range=None, height: int = 200):
    """One row per active model; each window is a bar coloured by the predicted class, opacity = confidence."""
    fig = figure(
        title="Predictions per model",
        x_axis_type="datetime",
        height=height,
        sizing_mode="stretch_width",
        y_range=FactorRange(*model_labels),
        tools="xpan,xwheel_zoom,reset,tap",
        name="timeline",
        **({"x_range": x_range} if x_range is not None else {}),
    )
    fig.rect(
        x="x",
        y="model",
        width="width",
        height=0.8,
        fill_color="color",
        fill_alpha="confidence",
        line_color=None,
        source=source,
        legend_field="predicted",
    )
    fig.legend.orientation, fig.legend.location = "horizontal", "top_left"
    fig.add_tools(
        HoverTool(
            tooltips=[
                ("model", "@model"),
                ("class", "@predicted"),
                ("confidence", "@confidence{0.00}"),
                ("window", "@window_id"),
            ]
        )
    )
    return fig


def truth_title(radius_km: int) -> str:
    return f"AIS truth within {radius_km} km"


def truth_figure(source: ColumnDataSource, radius_km: int, x_range=None, height: int = 170):
    """The truth lane beside the prediction lanes: a bar per window coloured by its class like theirs;
    ambiguous windows hatched grey, windows the labeller has not reached yet (pending) outlined white.

    The legend sits above the lane, not on it (it would hide bars), and not beside it (the frame
    must stay as wide as the figures it shares the time axis with)."""
    fig = figure(
        title=truth_title(radius_km),
        x_axis_type="datetime",
        height=height,
        sizing_mode="stretch_width",
        y_range=FactorRange(TRUTH_LANE),
        tools="xpan,xwheel_zoom,reset,tap",
        name="truth",
        **({"x_range": x_range} if x_range is not None else {}),
    )
    fig.add_layout(Legend(orientation="horizontal", location="top_left", border_line_alpha=0), "above")
    fig.rect(
        x="x",
        y="lane",
        width="width",
        height=0.8,
        fill_color="color",
        line_color="line",
        source=source,
        legend_field="label",
    )
    # Hatching drawn per row makes BokehJS build a pattern canvas per bar on every redraw (most of a
    # live tab's CPU with a day of windows): one hatch, for the ambiguous windows only, on top.
    fig.rect(
        x="x",
        y="lane",
        width="width",
        height=0.8,
        fill_alpha=0,
        line_alpha=0,
        hatch_pattern="/",
        hatch_color="#37474f",
        hatch_alpha=0.7,
        source=source,
        view=CDSView(filter=GroupFilter(column_name="status", group="ambiguous")),
        name="truth_ambiguous_hatch",
    )
    fig.add_tools(
        HoverTool(
            tooltips=[
                ("truth", "@label"),
                ("classes", "@classes"),
                ("vessels", "@vessels"),
                ("in the buffer", "@buffer"),
                ("window", "@window_id"),
            ]
        )
    )
    return fig


def confidence_figure(source: ColumnDataSource, model_labels: Sequence[str], x_range=None, height: int = 200):
    """Confidence of each model's prediction over time, one coloured line per model."""
    fig = figure(
        title="Confidence",
        x_axis_type="datetime",
        height=height,
        sizing_mode="stretch_width",
        y_range=(0, 1.02),
        tools="xpan,xwheel_zoom,reset,tap",
        name="confidence",
        **({"x_range": x_range} if x_range is not None else {}),
    )
    for i, label in enumerate(model_labels):
        add_model_line(fig, source, label, "confidence", model_color(i))
    return fig


def add_model_line(fig, source: ColumnDataSource, label: str, field: str, color: str):
    """A line + markers of `field` for one model's rows of a shared source (a view filters them)."""
    view = CDSView(filter=GroupFilter(column_name="model", group=label))
    line = fig.line(x="x", y=field, source=source, view=view, color=color, legend_label=label)
    dots = fig.scatter(x="x", y=field, source=source, view=view, color=color, size=4)
    keep_unselected_visible(line)
    keep_unselected_visible(dots)
    fig.legend.location = "bottom_left"
    return [line, dots]


def uncertainty_figure(
    source: ColumnDataSource, model_labels: Sequence[str], metric: str = "entropy", x_range=None, height: int = 200
):
    """One chosen uncertainty metric over time per model; `set_metric` switches it without rebuilding."""
    if metric not in UNCERTAINTY_METRICS:
        raise ValueError(f"metric: one of {', '.join(UNCERTAINTY_METRICS)}")
    fig = figure(
        title=f"Uncertainty: {metric}",
        x_axis_type="datetime",
        height=height,
        sizing_mode="stretch_width",
        tools="xpan,xwheel_zoom,reset,tap",
        name="uncertainty",
        **({"x_range": x_range} if x_range is not None else {}),
    )
    for i, label in enumerate(model_labels):
        add_model_line(fig, source, label, metric, model_color(i))
    return fig


def set_metric(fig, metric: str) -> None:
    """Point every line and marker of an uncertainty figure at another metric column."""
    if metric not in UNCERTAINTY_METRICS:
        raise ValueError(f"metric: one of {', '.join(UNCERTAINTY_METRICS)}")
    for renderer in fig.renderers:
        renderer.glyph.y = metric
    fig.title.text = f"Uncertainty: {metric}"


def range_ring(lat: float, lon: float, radius_km: float, points: int = 181) -> tuple[np.ndarray, np.ndarray]:
    """(lons, lats) of the geodesic circle of `radius_km` around a point (closed: first == last)."""
    azimuths = np.linspace(0.0, 360.0, points)
    lons, lats, _ = GEOD.fwd(np.full(points, lon), np.full(points, lat), azimuths, np.full(points, radius_km * 1000.0))
    return np.asarray(lons), np.asarray(lats)


def ais_map_figure(source: ColumnDataSource, lat: float, lon: float, rings_km: Sequence[float], size: int = 360):
    """Vessels on plain lon/lat axes around the hydrophone (no tiles needed): the truth radii as rings,
    each vessel's track over the lookback, a marker pointing along its heading, and a hover with its
    name, type, class, speed, course, and range and bearing from the hydrophone.

    The frame's width/height ratio follows the ground distance of a degree at this latitude,
    so a kilometre is as long east-west as north-south and the rings look round.
    """
    outer = max(rings_km) * 1.15
    ring_lons, ring_lats = range_ring(lat, lon, outer)
    x_span, y_span = float(ring_lons.max() - ring_lons.min()), float(ring_lats.max() - ring_lats.min())
    ground_ratio = x_span * float(np.cos(np.radians(lat))) / y_span
    fig = figure(
        title="AIS vessels (tracks: last 15 min)",
        frame_height=size,
        frame_width=round(size * ground_ratio),
        name="ais_map",
        x_range=(float(ring_lons.min()), float(ring_lons.max())),
        y_range=(float(ring_lats.min()), float(ring_lats.max())),
        tools="pan,wheel_zoom,reset",
    )
    fig.xaxis.axis_label, fig.yaxis.axis_label = "longitude", "latitude"
    draw_coast(fig, float(ring_lats.min()), float(ring_lons.min()), float(ring_lats.max()), float(ring_lons.max()))
    fig.add_layout(Legend(click_policy="hide"), "right")  # outside the map: it would hide vessels
    for radius in rings_km:
        xs, ys = range_ring(lat, lon, radius)
        fig.line(xs, ys, line_dash="dashed", color="#607d8b", legend_label=f"{radius:g} km", name=f"ring_{radius:g}")
    fig.scatter([lon], [lat], marker="triangle", size=14, color="black", legend_label="hydrophone")
    fig.multi_line(xs="track_lon", ys="track_lat", line_color="color", line_alpha=0.6, line_width=2, source=source)
    vessels = fig.scatter(
        x="lon",
        y="lat",
        marker="marker",
        angle="angle",
        size=12,
        color="color",
        line_color="black",
        source=source,
        legend_field="class_code",
        name="vessel_marks",
    )
    fig.add_tools(
        HoverTool(
            renderers=[vessels],
            tooltips=[
                ("vessel", "@name (@mmsi)"),
                ("type", "@type"),
                ("class", "@class_code"),
                ("speed, course", "@sog{0.0} kn, @cog{0}°"),
                ("range, bearing", "@range_km{0.0} km, @bearing{0}°"),
                ("time", "@time"),
            ],
        )
    )
    return fig


def draw_coast(fig, south: float, west: float, north: float, east: float) -> None:
    """Sea as the map's background and GSHHG land (lakes as sea again) under everything else.

    The coast is read for the view and as much again on every side, so panning a little still
    shows it, and simplified to about half a pixel of the frame: finer detail cannot be seen and
    would only grow every session's document.
    """
    width, height = east - west, north - south
    tolerance = min(width / (2 * (fig.frame_width or 600)), height / (2 * (fig.frame_height or 600)))
    found = shores(south - height, west - width, north + height, east + width, tolerance)
    fig.background_fill_color = SEA_COLOR
    fig.patches(
        xs=[shore.lon.tolist() for shore in found],
        ys=[shore.lat.tolist() for shore in found],
        fill_color=[LAND_COLOR if shore.is_land else SEA_COLOR for shore in found],
        line_color=COAST_COLOR,
        line_width=1,
        name=f"{fig.name}_coast",
    )


def emphasise_ring(fig, radius_km: float) -> None:
    """Draw the truth radius in use solid and thicker than the other radii's rings."""
    for renderer in fig.renderers:
        if renderer.name and renderer.name.startswith("ring_"):
            chosen = renderer.name == f"ring_{radius_km:g}"
            renderer.glyph.update(line_dash="solid" if chosen else "dashed", line_width=2.5 if chosen else 1.0)


SITE_COLUMNS = ("site", "lat", "lon", "size", "fill")


def overview_map_figure(
    sites: ColumnDataSource, vessels: ColumnDataSource, bounds: tuple[float, float, float, float], size: int = 360
):
    """Every site and every vessel on one map, the followed site drawn larger: where the sites lie
    along the traffic.  `bounds` is (south, west, north, east); axes are plain lon/lat (no tiles)."""
    south, west, north, east = bounds
    middle = (south + north) / 2
    ground_ratio = (east - west) * float(np.cos(np.radians(middle))) / max(north - south, 1e-6)
    fig = figure(
        title="All sites",
        frame_height=size,
        frame_width=max(120, round(size * ground_ratio)),
        name="overview_map",
        x_range=(west, east),
        y_range=(south, north),
        tools="pan,wheel_zoom,reset",
    )
    fig.xaxis.axis_label, fig.yaxis.axis_label = "longitude", "latitude"
    draw_coast(fig, south, west, north, east)
    fig.scatter(x="lon", y="lat", size=8, color="color", line_color="black", source=vessels)
    marks = fig.scatter(
        x="lon",
        y="lat",
        marker="triangle",
        size="size",
        color="fill",
        line_color="black",
        source=sites,
        name="site_marks",
    )
    fig.add_layout(LabelSet(x="lon", y="lat", text="site", source=sites, x_offset=6, y_offset=4, text_font_size="9pt"))
    fig.add_tools(HoverTool(renderers=[marks], tooltips=[("site", "@site")]))
    return fig


def site_bounds(sites: Sequence[tuple[float, float]], margin_km: float = 40.0) -> tuple[float, float, float, float]:
    """(south, west, north, east) around every (lat, lon) with `margin_km` to spare on each side."""
    boxes = [box_around(lat, lon, margin_km * 1000.0) for lat, lon in sites]
    return (
        min(b[0][0] for b in boxes),
        min(b[0][1] for b in boxes),
        max(b[1][0] for b in boxes),
        max(b[1][1] for b in boxes),
    )


def class_color(code: str | None, colors: dict[str, str]) -> str:
    return colors.get(code or "", UNKNOWN_COLOR)
