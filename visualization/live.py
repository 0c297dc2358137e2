"""The live dashboard document: plots from `plots`, rows from `queries`, kept current by streaming.

A session loads its span once, then the process's one `LiveFeed` pushes each site's new rows to
every session watching it; the session `stream`s those newer than its own (no page reload, no full
redraw) and `patch`es AIS truth, which arrives after its window and may be revised, in place.
Choosing a time in the picker stops following and shows the span ending there; switching "Follow live" back on returns to the newest data.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from bokeh.document import Document
from bokeh.layouts import column, row
from bokeh.models import DatetimePicker, Div, RangeSlider, Select, Toggle
from sqlalchemy.orm import Session

from oceanwatch.access.live_grants import SITE_HEADER
from oceanwatch.audio import levels
from oceanwatch.audio.features import DEFAULT_SPEC, window_hop_seconds
from oceanwatch.db.models import Hydrophone
from oceanwatch.events.query import EventRules
from oceanwatch.events.rules import EventKind
from oceanwatch.geo import Site
from oceanwatch.registry.active import active_models
from oceanwatch.sites import store
from visualization import frequency, plots, queries
from visualization.feed import AIS_LOOKBACK, LiveFeed, SiteUpdate, recent_events
from visualization.replay import SPEEDS, TICK_MS, ReplayClock, replay_update
from visualization.waterfall import Waterfall

SPANS = {"10 minutes": 10, "1 hour": 60, "6 hours": 360, "24 hours": 1440}
SPECTROGRAM_TILES = 120  # a span needing more is shown one tile per bucket (`bucket_seconds`)
SCREEN_COLUMNS = 1200  # pixels across the widest spectrogram frame: images finer than that are never seen
DISPLAY_ROWS = 96  # frequency rows per image (the frame is about 200 px high)
WINDOW_HOP_S = window_hop_seconds(DEFAULT_SPEC.window_seconds)
PREDICTION_BARS = 480  # per model; beyond, predictions are summarised per bucket
SPECTROGRAM_ROLLOVER = 200  # an hour of 30-s windows (160) fits unbucketed
PREDICTION_ROLLOVER = 5000
BUCKETS_S = (60, 120, 180, 300, 600, 900, 1800, 3600)
TRUTH_ROLLOVER = 5000
NO_MODEL = "(no active model)"


def _ms(t: dt.datetime) -> float:
    return t.timestamp() * 1000.0


def spectrogram_columns(
    rows: list[dict[str, Any]], scale: str, sensitivity_db: float | None, columns: int = 64
) -> dict[str, list[Any]]:
    """Each window's image as a spectral density level (`levels.density_db`), at most `columns` wide and
    `DISPLAY_ROWS` high, its bands resampled onto the frequency `scale` (so windows of different specs line
    up in Hz), placed at its start time."""
    out: dict[str, list[Any]] = {c: [] for c in plots.SPECTROGRAM_COLUMNS}
    for r in rows:
        spec = r["spec"]
        level = levels.density_db(spec, plots.display_image(r["image"], columns).T, sensitivity_db).T
        image, bottom, height = frequency.resample_rows(
            level, levels.band_centres_hz(spec), scale, min(spec.n_mels, DISPLAY_ROWS)
        )
        out["window_id"].append(r["window_id"])
        out["image"].append(image)
        out["x"].append(_ms(r["start"]))
        out["dw"].append(_ms(r["end"]) - _ms(r["start"]))
        out["y"].append(bottom)
        out["dh"].append(height)
        out["clip"].append(r["clip"])
    return out


def _index(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The index source's share of spectrogram columns: everything but the images."""
    return {c: columns[c] for c in plots.SPECTROGRAM_INDEX_COLUMNS}


def bucket_seconds(span_s: float, budget: int, finest_s: float = 30.0) -> float | None:
    """The bucket (a round number of seconds) that shows `span_s` in at most `budget` marks, or None when
    every window fits (windows start at most every `finest_s`): what a screen cannot show is not sent."""
    needed = span_s / budget
    if needed <= finest_s:
        return None
    return float(next((b for b in BUCKETS_S if b >= needed), BUCKETS_S[-1]))


def display_columns(span_s: float, tile_s: float | None) -> int:
    """Columns per window image so the span's images together are about `SCREEN_COLUMNS` wide: every
    browser recolours every image on each update, so pixels nobody can see cost every tab CPU."""
    marks = span_s / (tile_s or WINDOW_HOP_S)
    return int(min(64, max(4, math.ceil(SCREEN_COLUMNS / marks))))


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def color_range(images: Sequence[np.ndarray]) -> tuple[float, float]:
    """The level range the colours span by default: the 2nd to the 99.5th percentile of what is shown,
    so a few loud frames or silent gaps do not wash the picture out."""
    if not images:
        return (-120.0, -40.0)
    values = np.concatenate([image.ravel() for image in images])
    low, high = np.percentile(values, [2.0, 99.5])
    return float(np.floor(low)), float(max(np.ceil(high), np.floor(low) + 1.0))


def prediction_columns(
    rows: list[dict[str, Any]], labels: dict[int, str], colors: dict[str, str]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {c: [] for c in plots.PREDICTION_COLUMNS}
    for r in rows:
        start, end = _ms(r["start"]), _ms(r["end"])
        top = r["predicted"][0] if r["predicted"] else None
        out["id"].append(r["id"])
        out["model"].append(labels[r["model_id"]])
        out["window_id"].append(r["window_id"])
        out["x"].append((start + end) / 2)
        out["width"].append(end - start)
        out["start"].append(start)
        out["predicted"].append(",".join(r["predicted"]) or "none")
        out["color"].append(plots.class_color(top, colors))
        out["confidence"].append(r["confidence"])
        for metric in plots.UNCERTAINTY_METRICS:
            out[metric].append(float("nan") if r[metric] is None else r[metric])
    return out


def site_columns(sites: Sequence[Site], followed: str) -> dict[str, list[Any]]:
    """The overview map's sites, the followed one larger and red."""
    return {
        "site": [site.id for site in sites],
        "lat": [site.latitude for site in sites],
        "lon": [site.longitude for site in sites],
        "size": [18 if site.id == followed else 11 for site in sites],
        "fill": ["#d32f2f" if site.id == followed else "#263238" for site in sites],
    }


def vessel_columns(rows: list[dict[str, Any]], colors: dict[str, str], lat: float, lon: float) -> dict[str, list[Any]]:
    """The map's vessels: last position, a marker pointing along the heading (else the course; a circle
    when neither is known), range and bearing from the hydrophone at (lat, lon), and the track."""
    out: dict[str, list[Any]] = {c: [] for c in plots.VESSEL_COLUMNS}
    if rows:
        bearings, _, metres = plots.GEOD.inv(
            np.full(len(rows), lon), np.full(len(rows), lat), [r["lon"] for r in rows], [r["lat"] for r in rows]
        )
    for i, r in enumerate(rows):
        color = plots.class_color(r["class_code"], colors)
        course = r["heading"] if r["heading"] is not None else r["cog"]
        out["mmsi"].append(r["mmsi"])
        out["name"].append(r["name"])
        out["type"].append(r["ship_type_text"] or (f"AIS type {r['ship_type']}" if r["ship_type"] is not None else "?"))
        out["lon"].append(r["lon"])
        out["lat"].append(r["lat"])
        out["class_code"].append(r["class_code"])
        out["color"].append(color)
        out["sog"].append(r["sog"])  # None, not NaN: NaN != NaN would make every poll resend the vessels
        out["cog"].append(r["cog"])
        out["marker"].append("circle" if course is None else "triangle")
        out["angle"].append(0.0 if course is None else -float(np.radians(course)))  # Bokeh turns anticlockwise
        out["range_km"].append(float(metres[i]) / 1000.0)
        out["bearing"].append(float(bearings[i]) % 360.0)
        out["time"].append(r["time"].isoformat())
        out["track_lon"].append(list(r["track"][0]))
        out["track_lat"].append(list(r["track"][1]))
    return out


def _vessel_list(vessels: list[dict[str, Any]]) -> str:
    return ", ".join(f"{v['name'] or 'unnamed'} ({v['mmsi']})" for v in vessels) or "none"


def truth_columns(rows: list[dict[str, Any]], colors: dict[str, str]) -> dict[str, list[Any]]:
    """The truth lane's columns: per window its classes at the chosen radius, whether ambiguous, the vessels."""
    out: dict[str, list[Any]] = {c: [] for c in plots.TRUTH_COLUMNS}
    for r in rows:
        start, end, truth = _ms(r["start"]), _ms(r["end"]), r["truth"]
        if truth is None:
            status, classes = "pending", []
        else:
            status, classes = ("ambiguous" if truth["ambiguous"] else "labelled"), truth["classes"]
        fill = plots.TRUTH_STYLE[status]
        color = fill or plots.class_color(classes[0] if classes else None, colors)
        out["window_id"].append(r["window_id"])
        out["x"].append((start + end) / 2)
        out["width"].append(end - start)
        out["lane"].append(plots.TRUTH_LANE)
        out["label"].append((",".join(classes) or "none") if status == "labelled" else status)
        out["status"].append(status)
        out["classes"].append(",".join(classes) or ("not labelled yet" if truth is None else "none"))
        out["vessels"].append(_vessel_list(truth["vessels"]) if truth else "")
        out["buffer"].append(_vessel_list(truth["buffer_vessels"]) if truth else "")
        out["color"].append(color)
        out["line"].append(plots.PENDING_LINE if status == "pending" else color)
    return out


EVENT_NAMES = {
    EventKind.DISAGREEMENT: "models disagree",
    EventKind.CONTRADICTS_TRUTH: "contradicts AIS",
    EventKind.HIGH_UNCERTAINTY: "uncertain",
}


def events_html(events: list[dict[str, Any]] | None) -> str:
    """The events list beside the plots, newest first, each a link to its window's review page (same origin
    as the page the document is embedded in)."""
    if events is None:
        return "<p>Events are not read for this view.</p>"
    if not events:
        return "<h4>Events</h4><p id='no-events'>No event in the hour shown last.</p>"
    items = "".join(
        f"<li data-window='{int(e['window_id'])}'><a href='/review/{int(e['window_id'])}'>"
        f"{e['start_time']:%H:%M:%S}</a> "
        + html.escape(", ".join(EVENT_NAMES.get(k, k) for k in e["kinds"]))
        + (" <em>reviewed</em>" if e["reviewed"] else "")
        + "</li>"
        for e in events
    )
    return f"<h4>Events (the hour shown last)</h4><ol id='events' style='padding-left:2em;margin:0'>{items}</ol>"


def audio_html(window_id: int | None, autoplay: bool = False) -> str:
    """The audio player for a window's clip, served by the web app (same origin as the page); a window
    the user chose plays at once (the tap is the gesture browsers ask before sound)."""
    if window_id is None:
        return "<p>No clip selected: tap a window in any lane.</p>"
    src = html.escape(f"/live/clip/{int(window_id)}")
    play = " autoplay" if autoplay else ""
    return f'<p>Window {int(window_id)}</p><audio id="clip-player" controls preload="none"{play} src="{src}"></audio>'


def _truth_text(truth: dict[str, Any] | None) -> str:
    if truth is None:
        return "not labelled yet"
    if truth["ambiguous"]:
        return "ambiguous (a vessel in the buffer beyond the radius): " + _vessel_list(truth["buffer_vessels"])
    return (",".join(truth["classes"]) or "none") + "; vessels: " + _vessel_list(truth["vessels"])


def details_html(details: dict[str, Any] | None) -> str:
    """The chosen window: its time, AIS truth at the lane's radius, each model's probabilities (highest
    first) and uncertainty, and a link to its review page."""
    if details is None:
        return "<p id='window-details'>Tap a window in any lane to see its details.</p>"
    wid = int(details["window_id"])
    outputs = "".join(
        f"<li data-model='{html.escape(o['model'])}'><b>{html.escape(o['model'])}</b>: "
        + html.escape(
            ", ".join(
                f"{c} {p:.2f}" for c, p in sorted(zip(o["class_names"], o["probabilities"]), key=lambda cp: -cp[1])
            )
        )
        + (f"; entropy {o['entropy']:.2f}" if o["entropy"] is not None else "")
        + "</li>"
        for o in details["outputs"]
    )
    return (
        f"<div id='window-details' data-window='{wid}'><h4>Window {wid}, "
        f"{details['start']:%H:%M:%S}–{details['end']:%H:%M:%S} UTC</h4>"
        f"<p>AIS truth within {int(details['radius_km'])} km: {html.escape(_truth_text(details['truth']))}</p>"
        + (f"<ul style='padding-left:1.2em;margin:0'>{outputs}</ul>" if outputs else "<p>No model output.</p>")
        + f"<p><a href='/review/{wid}'>Review this window</a></p></div>"
    )


class LiveDashboard:
    """One browser session's dashboard: its sources, widgets and the ids it has already shown."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        hydrophone_id: str,
        lat: float,
        lon: float,
        truth_radii_km: Sequence[int],
        event_rules: EventRules | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.event_rules = event_rules  # None: no events list (a view that does not need one)
        self.hydrophone_id = hydrophone_id
        self.lat, self.lon = lat, lon
        self.spectrograms = plots.empty_source(plots.SPECTROGRAM_INDEX_COLUMNS, "spectrogram_source")
        self.waterfall = Waterfall()
        self.predictions = plots.empty_source(plots.PREDICTION_COLUMNS, "prediction_source")
        self.vessels = plots.empty_source(plots.VESSEL_COLUMNS, "vessel_source")
        self.truth = plots.empty_source(plots.TRUTH_COLUMNS, "truth_source")
        self.last_window_id: int | None = None
        self.last_prediction_id: int | None = None
        self.last_truth_window_id: int | None = None
        self.truth_start: dt.datetime | None = None  # the shown span's start (its end: self.end, or live)
        self.oldest_truth_window_id: int | None = None  # revised truth is looked for from here on
        self.end: dt.datetime | None = None
        self.tile_s: float | None = None  # seconds per spectrogram tile when the span is downsampled
        self.columns = 64  # image columns per window (`display_columns` of the span)
        self.bar_s: float | None = None  # seconds per prediction bar when the span is downsampled
        with self.session_factory() as session:
            self.models = active_models(session)
            self.colors = queries.class_colors(session)
            site_row = session.get(Hydrophone, hydrophone_id)
        self.sensitivity_db = site_row.sensitivity_db if site_row is not None else None
        labels = [m.label for m in self.models]
        unit = levels.density_unit(self.sensitivity_db)
        self.spectrogram_fig = plots.spectrogram_figure(self.spectrograms, self.waterfall.sources, unit)
        self.scale = frequency.SCALES[0]  # the Select's value, readable off the document thread
        self.frequency_scale = Select(
            title="Frequency scale", value=self.scale, options=list(frequency.SCALES), name="frequency_scale"
        )
        self.frequency_bounds: tuple[float, float] | None = None  # lowest and highest band centre shown
        self.color_levels = RangeSlider(
            title=f"Colour range ({unit})", start=-200, end=200, value=(-120, -40), step=1, name="color_range"
        )
        self.color_auto = True  # the range follows the data until the user sets one
        self._fitting_colors = False
        x_range = self.spectrogram_fig.x_range
        self.radius_km = truth_radii_km[0]  # the Select's value, readable off the document thread
        self.truth_radius = Select(
            title="Truth radius",
            value=str(self.radius_km),
            name="truth_radius",
            options=[(str(r), f"{r} km") for r in truth_radii_km],
        )
        self.truth_fig = plots.truth_figure(self.truth, self.radius_km, x_range)
        self.timeline_fig = plots.timeline_figure(self.predictions, labels or [NO_MODEL], x_range)
        self.confidence_fig = plots.confidence_figure(self.predictions, labels, x_range)
        self.uncertainty_fig = plots.uncertainty_figure(self.predictions, labels, "entropy", x_range)
        lanes = [self.spectrogram_fig, self.truth_fig, self.timeline_fig, self.confidence_fig, self.uncertainty_fig]
        plots.link_time_cursor(lanes)
        self.selection_bands = plots.make_lanes_selectable(lanes)
        self.selected_window_id: int | None = None
        self.map_fig = plots.ais_map_figure(self.vessels, lat, lon, truth_radii_km)
        plots.emphasise_ring(self.map_fig, self.radius_km)
        with self.session_factory() as session:
            sites = [site for site in store.active_sites(session) if site.id != hydrophone_id]
        sites.insert(0, Site(hydrophone_id, lat, lon))  # the followed site, active or not
        self.sites = plots.empty_source(plots.SITE_COLUMNS, "site_source")
        self.sites.data = site_columns(sites, hydrophone_id)
        self.overview_fig = plots.overview_map_figure(
            self.sites, self.vessels, plots.site_bounds([(site.latitude, site.longitude) for site in sites])
        )
        self.follow = Toggle(label="Follow live", active=True, button_type="success", name="follow")
        self.replay = Toggle(label="Replay from the time shown", active=False, name="replay")
        self.replay_speed = Select(
            title="Replay speed", value="10", options=[(str(s), f"{s}×") for s in SPEEDS], name="replay_speed"
        )
        self.replay_clock: ReplayClock | None = None
        # Starts a periodic callback on the session's document and returns what stops it (None: no document).
        self.ticker: Callable[[Callable[[], None], int], Callable[[], None]] | None = None
        self._stop_ticking: Callable[[], None] | None = None
        self._last_tick = 0.0
        self.picker = DatetimePicker(title="Show up to (UTC)", name="time_picker")
        self.span = Select(title="Span", value="1 hour", options=list(SPANS), name="span")
        self.metric = Select(
            title="Uncertainty metric", value="entropy", options=list(plots.UNCERTAINTY_METRICS), name="metric"
        )
        self.audio = Div(text=audio_html(None), name="audio")
        self.details = Div(text=details_html(None), name="window_details", width=360)
        self.events = plots.QuietDiv("events", 360, 260, events_html(None), {"overflow-y": "auto"})
        self.status = plots.QuietDiv("status", 420, 40)
        self.metric.on_change("value", lambda _a, _o, new: plots.set_metric(self.uncertainty_fig, new))
        self.picker.on_change("value", self._on_pick)
        self.span.on_change("value", lambda _a, _o, _n: self.reload())
        self.follow.on_change("active", self._on_follow)
        self.replay.on_change("active", self._on_replay)
        self.replay_speed.on_change("value", self._on_replay_speed)
        self.truth_radius.on_change("value", self._on_radius)
        self.frequency_scale.on_change("value", self._on_scale)
        self.color_levels.on_change("value", self._on_color_levels)
        for source in (self.spectrograms, self.truth, self.predictions):
            source.selected.on_change("indices", partial(self._on_tap, source))

    def layout(self):
        controls = column(
            row(self.follow, self.picker, self.span, self.metric, self.truth_radius, self.status.div),
            row(self.frequency_scale, self.color_levels, self.replay_speed, self.replay),
        )
        left = column(
            self.spectrogram_fig,
            self.truth_fig,
            self.timeline_fig,
            self.confidence_fig,
            self.uncertainty_fig,
            sizing_mode="stretch_width",
        )
        return column(
            controls,
            row(
                left,
                column(self.map_fig, self.overview_fig, self.audio, self.details, self.events.div),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            name="live_root",
        )

    @property
    def model_labels(self) -> dict[int, str]:
        return {m.id: m.label for m in self.models}

    def reload(self) -> None:
        """Replace every source with the chosen span (newest data when following)."""
        span_s = SPANS[self.span.value] * 60.0
        self.tile_s = bucket_seconds(span_s, SPECTROGRAM_TILES)
        self.columns = display_columns(span_s, self.tile_s)
        self.bar_s = bucket_seconds(span_s, PREDICTION_BARS)
        with self.session_factory() as session:
            self.models = active_models(session)
            end = self.end if not self.follow.active else queries.latest_window_time(session, self.hydrophone_id)
            end = end or dt.datetime.now(dt.timezone.utc)
            start = end - dt.timedelta(seconds=span_s)
            specs = queries.spectrogram_rows(
                session, self.hydrophone_id, start=start, end=end, limit=SPECTROGRAM_ROLLOVER, bucket_s=self.tile_s
            )
            model_ids = [m.id for m in self.models]
            preds = (
                queries.prediction_rows(
                    session, model_ids, self.hydrophone_id, start=start, end=end, limit=PREDICTION_ROLLOVER
                )
                if self.bar_s is None
                else queries.prediction_buckets(
                    session, model_ids, self.hydrophone_id, start=start, end=end, bucket_s=self.bar_s
                )
            )
            vessels = queries.vessel_positions(session, end - AIS_LOOKBACK, end)
            events = recent_events(session, self.event_rules, self.hydrophone_id, end) if self.event_rules else None
        self.events.text = events_html(events)
        self._sync_models()
        columns = self._spectrogram_columns(specs)
        self.spectrograms.data = _index(columns)
        self.waterfall.replace(columns)
        self.frequency_bounds = None
        self._fit_spectrogram(specs)
        self.predictions.data = prediction_columns(preds, self.model_labels, self.colors)
        self.vessels.data = vessel_columns(vessels, self.colors, self.lat, self.lon)
        self.truth_start = start
        self.reload_truth()
        self.last_window_id = max((r["window_id"] for r in specs), default=self.last_window_id)
        self.last_prediction_id = max((r["id"] for r in preds), default=self.last_prediction_id)
        self._status(end)
        self._offer_newest_clip(specs)

    def _next_tiles(self, columns: dict[str, list[Any]], candidates: list[int]) -> list[int]:
        """Of the new windows, those that each open a bucket after the newest tile shown."""
        assert self.tile_s is not None
        step = self.tile_s * 1000.0
        starts = self.spectrograms.data["x"]
        next_ms = (starts[-1] + step) if len(starts) else float("-inf")
        keep = []
        for i in candidates:
            if columns["x"][i] >= next_ms:
                keep.append(i)
                next_ms = columns["x"][i] + step
        return keep

    def _spectrogram_columns(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        return spectrogram_columns(rows, self.scale, self.sensitivity_db, self.columns)

    def _fit_spectrogram(self, rows: list[dict[str, Any]]) -> None:
        """Label the frequency axis for the bands shown (widened when a window of another spec arrives)
        and, until the user sets a colour range, fit the colours to the levels shown."""
        centres = [levels.band_centres_hz(r["spec"]) for r in rows]
        if centres:
            low, high = min(c[0] for c in centres), max(c[-1] for c in centres)
            if self.frequency_bounds is not None:
                low, high = min(low, self.frequency_bounds[0]), max(high, self.frequency_bounds[1])
            if (low, high) != self.frequency_bounds:
                self.frequency_bounds = (low, high)
                plots.set_frequency_axis(
                    self.spectrogram_fig, frequency.frequency_ticks(low, high, self.scale), self.scale
                )
        if self.color_auto:
            low_db, high_db = color_range(self.waterfall.images())
            self._fitting_colors = True
            try:
                self.color_levels.update(start=low_db - 30, end=high_db + 30, value=(low_db, high_db))
            finally:
                self._fitting_colors = False
            plots.set_color_range(self.spectrogram_fig, low_db, high_db)

    def reload_truth(self) -> None:
        """Replace the truth lane with the shown span's windows at the chosen radius (a radius change, a reload)."""
        end = None if self.follow.active else self.end
        with self.session_factory() as session:
            rows = queries.truth_rows(
                session, self.hydrophone_id, self.radius_km, start=self.truth_start, end=end, limit=TRUTH_ROLLOVER
            )
        self.truth.data = truth_columns(rows, self.colors)
        self._note_oldest_truth()
        self.last_truth_window_id = max((r["window_id"] for r in rows), default=self.last_truth_window_id)
        self.truth_fig.title.text = plots.truth_title(self.radius_km)

    def _note_oldest_truth(self) -> None:
        """Remember the oldest window the lane still shows: revised truth of older ones (rolled over by
        streaming) is not looked for, so a page left open all day reads a bounded range every tick."""
        self.oldest_truth_window_id = min(self.truth.data["window_id"], default=None)

    def _offer_newest_clip(self, specs: list[dict[str, Any]]) -> None:
        """Until the user taps a window, the player holds the newest clip of the loaded span.

        Only on (re)load: replacing the player on every tick would cut off a clip being listened to.
        """
        if self.selected_window_id is not None:
            return
        with_clip = [r["window_id"] for r in specs if r["clip"]]
        self.audio.text = audio_html(with_clip[-1] if with_clip else None)

    def apply_update(self, update: SiteUpdate) -> None:
        """Show what the feed read since its last poll: stream rows newer than this session's own, patch
        truth revised in place.  Runs on the document's tick (the feed's `deliver`); a session looking
        back ignores it and reloads when it follows again."""
        if self.follow.active:
            self._show(update)

    def _show(self, update: SiteUpdate) -> None:
        """Stream an update's new rows, patch its revised truth, replace the vessels (live and replay)."""
        if [m.id for m in update.models] != [m.id for m in self.models]:
            self.models = update.models
            self._sync_models()
        columns = update.shaped(
            f"spectrograms/{self.scale}/{self.sensitivity_db}/{self.columns}",
            lambda: self._spectrogram_columns(update.specs),
        )
        keep = [i for i, wid in enumerate(columns["window_id"]) if wid > (self.last_window_id or 0)]
        if self.tile_s is not None:  # one tile per bucket, as loaded: a window opening the next bucket
            keep = self._next_tiles(columns, keep)
        if keep:
            new = {k: [v[i] for i in keep] for k, v in columns.items()}
            if self.tile_s is not None:
                new["dw"] = [self.tile_s * 1000.0] * len(keep)
            self.spectrograms.stream(_index(new), rollover=SPECTROGRAM_ROLLOVER)
            self.waterfall.stream(new)
            self.last_window_id = max(columns["window_id"][i] for i in keep)
            self._fit_spectrogram([update.specs[i] for i in keep])
        shown = self.model_labels
        preds = [r for r in update.preds if r["id"] > (self.last_prediction_id or 0) and r["model_id"] in shown]
        if preds:
            self.predictions.stream(prediction_columns(preds, shown, self.colors), rollover=PREDICTION_ROLLOVER)
            self.last_prediction_id = max(r["id"] for r in preds)
        vessels = vessel_columns(update.vessels, self.colors, self.lat, self.lon)
        if vessels != self.vessels.data:  # replacing the source resends it all: only when the picture changed
            self.vessels.data = vessels
        self._apply_truth(update.truth.get(self.radius_km, []))
        if update.events is not None and self.event_rules is not None:
            self.events.text = events_html(update.events)
        self._status(update.end)

    def _apply_truth(self, rows: list[dict[str, Any]]) -> None:
        """Patch the shown windows whose truth changed, stream the windows not shown yet (pending or labelled)."""
        index = {wid: i for i, wid in enumerate(self.truth.data["window_id"])}
        fresh = [r for r in rows if r["window_id"] not in index and r["window_id"] > (self.last_truth_window_id or 0)]
        if fresh:
            self.truth.stream(truth_columns(fresh, self.colors), rollover=TRUTH_ROLLOVER)
            self.last_truth_window_id = max(r["window_id"] for r in fresh)
            self._note_oldest_truth()
        revised = truth_columns([r for r in rows if r["window_id"] in index], self.colors)
        patches: dict[str, list[tuple[int, Any]]] = {}
        for k, wid in enumerate(revised["window_id"]):
            i = index[wid]
            for name, values in revised.items():
                if self.truth.data[name][i] != values[k]:
                    patches.setdefault(name, []).append((i, values[k]))
        if patches:  # only what changed goes to the browser
            self.truth.patch(patches)

    def _sync_models(self) -> None:
        """Give a newly deployed model its row and lines (and drop retired ones from the axis)."""
        labels = [m.label for m in self.models]
        if list(self.timeline_fig.y_range.factors) == (labels or [NO_MODEL]):
            return
        self.timeline_fig.y_range.factors = labels or [NO_MODEL]
        for fig in (self.confidence_fig, self.uncertainty_fig):
            shown = {r.view.filter.group for r in fig.renderers}
            for i, label in enumerate(labels):
                if label not in shown:
                    field = "confidence" if fig is self.confidence_fig else self.metric.value
                    plots.add_model_line(fig, self.predictions, label, field, plots.model_color(i))

    def _status(self, end: dt.datetime, note: str = "") -> None:
        mode = (
            f"replaying at {self.replay_speed.value}×"
            if self.replay_clock is not None
            else ("following live" if self.follow.active else "looking back")
        )
        tiles = len(self.spectrograms.data["window_id"])
        shown = f"{tiles} windows" if self.tile_s is None else f"{tiles} tiles (a window per {_duration(self.tile_s)})"
        bars = len(self.predictions.data["id"])
        summary = "" if self.bar_s is None else f" (per {_duration(self.bar_s)})"
        self.status.text = f"<span id='live-status'>{mode}; up to {end:%Y-%m-%d %H:%M:%S} UTC; {shown}, {bars} predictions{summary}{note}</span>"

    def _on_pick(self, _attr: str, _old: Any, new: Any) -> None:
        if new is None:
            return
        self.end = (
            dt.datetime.fromtimestamp(float(new) / 1000.0, dt.timezone.utc)
            if isinstance(new, (int, float))
            else dt.datetime.fromisoformat(str(new)).replace(tzinfo=dt.timezone.utc)
        )
        if self.replay_clock is not None:  # a replay jumps to the time picked
            self.replay_clock.position = self.end
        self.follow.active = False
        self.reload()

    def _on_follow(self, _attr: str, _old: bool, new: bool) -> None:
        if new:
            self.end = None
            self.replay.active = False
        self.reload()

    def _on_replay(self, _attr: str, _old: bool, new: bool) -> None:
        """Start replaying from the time shown (the picked time, else the start of the live span), or stop."""
        if not new:
            if self._stop_ticking is not None:
                self._stop_ticking()
            self._stop_ticking, self.replay_clock = None, None
            self._status(self.end or dt.datetime.now(dt.timezone.utc))
            return
        if self.end is None:
            with self.session_factory() as session:
                newest = queries.latest_window_time(session, self.hydrophone_id) or dt.datetime.now(dt.timezone.utc)
            self.end = newest - dt.timedelta(minutes=SPANS[self.span.value])
        self.replay_clock = ReplayClock(self.end, float(self.replay_speed.value))
        following = self.follow.active
        self.follow.active = False  # when it was on, this reloads the span ending where the replay starts
        if not following:
            self.reload()
        self._last_tick = time.monotonic()
        if self.ticker is not None:
            self._stop_ticking = self.ticker(self.replay_tick, TICK_MS)

    def _on_replay_speed(self, _attr: str, _old: str, new: str) -> None:
        if self.replay_clock is not None:
            self.replay_clock.speed = float(new)

    def replay_tick(self, elapsed_s: float | None = None) -> None:
        """Advance the replay by the wall time since the last tick (or `elapsed_s`) times its speed and show
        what arrived in that stretch; at the newest data the replay stops."""
        if self.replay_clock is None:
            return
        now = time.monotonic()
        elapsed = now - self._last_tick if elapsed_s is None else elapsed_s
        self._last_tick = now
        start, end = self.replay_clock.advance(elapsed)
        with self.session_factory() as session:
            newest = queries.latest_window_time(session, self.hydrophone_id)
            update = replay_update(
                session,
                self.hydrophone_id,
                self.models,
                self.radius_km,
                start,
                end,
                SPECTROGRAM_ROLLOVER,
                self.event_rules,
            )
        self._show(update)
        self.end = end
        if newest is None or end >= newest:
            self.replay.active = False
            self._status(end, "; the replay reached the newest data")

    def _on_scale(self, _attr: str, _old: str, new: str) -> None:
        self.scale = new
        self.reload()

    def _on_color_levels(self, _attr: str, _old: Any, new: tuple[float, float]) -> None:
        if self._fitting_colors:
            return
        self.color_auto = False
        plots.set_color_range(self.spectrogram_fig, float(new[0]), float(new[1]))

    def _on_radius(self, _attr: str, _old: str, new: str) -> None:
        self.radius_km = int(new)
        plots.emphasise_ring(self.map_fig, self.radius_km)
        self.reload_truth()

    def _on_tap(self, source: Any, _attr: str, _old: list[int], new: list[int]) -> None:
        """A tap on a lane (spectrogram, truth, a model's bar or point) selects its window everywhere."""
        if new:
            self.select_window(source.data["window_id"][new[0]])

    def select_window(self, window_id: int) -> None:
        """Mark the window in every lane, play its clip, show its truth, vessels and each model's output."""
        if window_id == self.selected_window_id:
            return
        with self.session_factory() as session:
            details = queries.window_details(session, window_id, self.radius_km)
        if details is None:  # deleted by retention since it was drawn
            return
        self.selected_window_id = window_id
        plots.show_selected(self.selection_bands, _ms(details["start"]), _ms(details["end"]))
        self.details.text = details_html(details)
        self.audio.text = (
            audio_html(window_id, autoplay=True) if details["clip"] else f"<p>Window {window_id} has no clip.</p>"
        )


def make_document(
    session_factory: Callable[[], Session],
    feed: LiveFeed,
    hydrophone_id: str,
    lat: float,
    lon: float,
    truth_radii_km: Sequence[int],
) -> Callable[[Document], None]:
    """A Bokeh FunctionHandler body that builds one dashboard per session, following the site the
    page asked for (its `SITE_HEADER`), else the default one (`hydrophone_id` at `lat`, `lon`).

    The session subscribes to the process's `feed` before it loads (so nothing falls between the load
    and the first update) and leaves it when Bokeh destroys the session."""

    def build(doc: Document) -> None:
        asked = doc.session_context.request.headers.get(SITE_HEADER) if doc.session_context else None
        site = Site(hydrophone_id, lat, lon)
        if asked:
            with session_factory() as session:
                row = session.get(Hydrophone, asked)
            if row is not None:
                site = Site(row.id, row.latitude, row.longitude)
        dashboard = LiveDashboard(
            session_factory, site.id, site.latitude, site.longitude, truth_radii_km, feed.event_rules
        )
        subscription = feed.subscribe(
            site.id,
            lambda update: doc.add_next_tick_callback(partial(dashboard.apply_update, update)),
            lambda: dashboard.oldest_truth_window_id,
        )
        doc.on_session_destroyed(lambda _context: feed.unsubscribe(subscription))

        def ticker(callback: Callable[[], None], period_ms: int) -> Callable[[], None]:
            handle = doc.add_periodic_callback(callback, period_ms)
            return lambda: doc.remove_periodic_callback(handle)

        dashboard.ticker = ticker
        dashboard.reload()
        doc.add_root(dashboard.layout())
        doc.title = "OceanWatch live"

    return build
