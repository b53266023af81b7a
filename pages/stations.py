"""Station map: how each station's pumps have done, how far off the model has been there, and London's coverage."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st

from lfb.config import get_settings
from lfb.data import station_stats
from lfb.data.reference import stations
from lfb.data.store import Store
from lfb.geo.grid import bng_to_wgs84
from lfb.geo.layers import cell_squares
from lfb.model import coverage as cov
from lfb.model.serving import Predictor, RequestError
from lfb.model.station_errors import flag_in_service, with_errors
from lfb.service import jobs
from ui import maps
from ui.navigation import page_guard
from ui.resources import serving_model
from ui.selection import SharedSelection
from ui.widgets import plain

ALL_GROUPS = "All incident groups"
MAP_HEIGHT = 440
CELL_HALF_M = 500.0  # half a grid cell: cells are drawn around their centres
VIEWS = ("Stations", "London's coverage")  # one view at a time: each map costs the browser real work
UNAVAILABLE = (0, 90, 200)  # the ring on a station made unavailable

@dataclass(frozen=True)
class Measure:
    """A figure the stations can be coloured and ranked by."""

    column: str
    stops: maps.Stops
    label: Callable[[float], str]
    worst_high: bool  # True: a higher value is worse (ranked first)
    needs_model: bool = False


def _pct(v: float) -> str:
    """Return a share as a whole percentage."""
    return "-" if v is None or not np.isfinite(v) else f"{v:.0%}"


def _signed(v: float) -> str:
    """Return seconds with a sign."""
    return "-" if v is None or not np.isfinite(v) else f"{v:+.0f} s"


MEASURES = {
    "Median attendance": Measure("median_s", maps.SECONDS_STOPS, maps.minutes_text, True),
    "Share within 6 minutes": Measure("within_target", maps.SHARE_STOPS, _pct, False),
    "Model's mean error (MAE)": Measure("mae_s", maps.ERROR_STOPS, lambda v: f"{v:.0f} s", True, True),
    "Model's bias (actual − estimate)": Measure("bias_s", maps.BIAS_STOPS, _signed, True, True),
}


# ---- cached loaders (every rerun stays cheap) ------------------------------------------------

def _open() -> Store:
    """Open the records store of the current settings."""
    return jobs.open_store(get_settings())


@st.cache_data(ttl=60, show_spinner=False)
def _months(db_path: str) -> pd.DataFrame:
    """Return the months holding attendances (cached a minute)."""
    db = _open()
    try:
        return station_stats.month_table(db)
    finally:
        db.close()


@st.cache_data(ttl=300, show_spinner=False)
def _groups(db_path: str) -> list[str]:
    """Return the incident groups in the store."""
    db = _open()
    try:
        return station_stats.incident_groups(db)
    finally:
        db.close()


@st.cache_data(ttl=300, show_spinner="Counting pump attendances ...")
def _summary(db_path: str, flt: station_stats.StatsFilter) -> pd.DataFrame:
    """Return every station's figures for a filter."""
    db = _open()
    try:
        return station_stats.station_table(station_stats.station_summary(db, flt))
    finally:
        db.close()


@st.cache_data(ttl=300, show_spinner=False)
def _distribution(db_path: str, code: str, flt: station_stats.StatsFilter) -> np.ndarray:
    """Return one station's attendance seconds for a filter."""
    db = _open()
    try:
        return station_stats.attendance_seconds(db, code, flt)
    finally:
        db.close()


# ---- layout ------------------------------------------------------------------------------

def _filters(months: pd.DataFrame, groups: list[str]) -> tuple[station_stats.StatsFilter, str]:
    """Show the filters (stacked, in the side panel); return the filter and the chosen measure."""
    options = months["month"].tolist()
    first, last = st.select_slider("Period", options=options,
                                   value=(options[max(0, len(options) - 12)], options[-1]), key="stations_period")
    a, b = st.columns([1.2, 1])
    group = a.selectbox("Incident group", [ALL_GROUPS, *groups], key="stations_group")
    measure = b.selectbox("Colour and rank by", list(MEASURES), key="stations_measure")
    first_only = st.toggle("First pump only", key="stations_first", help="Count only the first pump to arrive")
    flt = station_stats.StatsFilter(first, last, None if group == ALL_GROUPS else group, first_only,
                                    real_only=bool(months["real"].any()))
    return flt, measure


def _ranked(table: pd.DataFrame, measure: Measure) -> pd.DataFrame:
    """Return the stations worst first by a measure (stations without the figure last)."""
    return table.sort_values([measure.column, "station_name"], ascending=[not measure.worst_high, True],
                             na_position="last", kind="stable").reset_index(drop=True)


def _station_layers(table: pd.DataFrame, measure: Measure, selected: str | None) -> list[pdk.Layer]:
    """Return the stations coloured by a measure, rings on flagged stations and on the selected one."""
    colours = maps.ramp(table[measure.column], measure.stops)
    data = pd.DataFrame({
        "station_code": table["station_code"], "station_name": table["station_name"],
        "lon": table["longitude"], "lat": table["latitude"], "pumps": table["pumps"],
        "median": table["median_s"].map(maps.minutes_text), "share": table["within_target"].map(_pct),
        "mae": table["mae_s"].map(lambda v: "-" if not np.isfinite(v) else f"{v:.0f} s"),
        "bias": table["bias_s"].map(_signed),
        "flag": np.where(table["flagged"], "Flagged: " + table["flag_text"], ""),
    })
    data["colour"] = colours.tolist()
    records = data.to_dict("records")
    flagged = [r for r, f in zip(records, table["flagged"]) if f]
    chosen = [r for r in records if r["station_code"] == selected]
    return [
        pdk.Layer("ScatterplotLayer", records, id="stations", pickable=True, auto_highlight=True,
                  get_position=["lon", "lat"], get_fill_color="colour", get_radius=380, radius_min_pixels=5,
                  radius_max_pixels=16, stroked=True, get_line_color=[40, 40, 40], line_width_min_pixels=1),
        pdk.Layer("ScatterplotLayer", flagged, id="flagged", pickable=False, get_position=["lon", "lat"],
                  filled=False, stroked=True, get_radius=800, radius_min_pixels=9, radius_max_pixels=24,
                  get_line_color=[120, 40, 160], line_width_min_pixels=2.5),
        pdk.Layer("ScatterplotLayer", chosen, id="selected", pickable=False, get_position=["lon", "lat"],
                  filled=False, stroked=True, get_radius=1100, radius_min_pixels=12, radius_max_pixels=30,
                  get_line_color=[20, 20, 20], line_width_min_pixels=3),
    ]


STATION_TIP = {"html": "<b>{station_name}</b> ({station_code})<br/>{pumps} pumps · median {median} · within 6 min "
                       "{share}<br/>model MAE {mae} · bias {bias}<br/><i>{flag}</i>",
               "style": {"fontSize": "12px", "backgroundColor": "rgba(30,30,30,0.9)", "color": "white"}}


def _distribution_chart(seconds: np.ndarray, title: str) -> go.Figure:
    """Return the attendance-time histogram of one station with the 6-minute line."""
    bins = station_stats.histogram(seconds)
    middle = (bins["start_s"] + bins["end_s"]) / 2
    colours = [f"rgb({r},{g},{b})" for r, g, b in maps.seconds_colours(middle)]
    fig = go.Figure(go.Bar(x=middle / 60, y=bins["pumps"], width=0.48, marker_color=colours,
                           customdata=np.column_stack([bins["start_s"], bins["end_s"]]),
                           hovertemplate="%{customdata[0]:.0f}-%{customdata[1]:.0f} s: %{y} pumps<extra></extra>"))
    fig.add_vline(x=station_stats.TARGET_S / 60, line_dash="dash", line_color="black",
                  annotation_text="6-minute target", annotation_position="top right",
                  annotation_bgcolor="rgba(255,255,255,0.85)")
    fig.update_layout(title=dict(text=title, font_size=13), height=250, margin=dict(l=10, r=10, t=36, b=10),
                      xaxis_title="attendance (minutes)", yaxis_title="pumps", bargap=0, showlegend=False)
    fig.update_xaxes(range=[0, 20], dtick=2)
    return fig


def _ranking_chart(ranked: pd.DataFrame, measure_name: str, selected: str | None, top: int = 15) -> go.Figure:
    """Return the worst `top` stations by a measure as horizontal bars (the selected one outlined)."""
    measure = MEASURES[measure_name]
    shown = ranked.dropna(subset=[measure.column]).head(top).iloc[::-1]
    values = shown[measure.column]
    colours = [f"rgb({r},{g},{b})" for r, g, b in maps.ramp(values, measure.stops)]
    outline = [3 if c == selected else 0 for c in shown["station_code"]]
    fig = go.Figure(go.Bar(x=values, y=shown["station_name"] + " (" + shown["station_code"] + ")", orientation="h",
                           marker=dict(color=colours, line=dict(color="black", width=outline)),
                           text=[measure.label(v) for v in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{text}<extra></extra>"))
    fig.update_layout(title=dict(text=f"{len(shown)} worst stations by {measure_name.lower()}", font_size=13),
                      height=330, margin=dict(l=10, r=40, t=36, b=10), showlegend=False)
    if measure.column == "within_target":
        fig.update_xaxes(tickformat=".0%")
    return fig


def _table(ranked: pd.DataFrame, sel: SharedSelection) -> None:
    """Show every station, worst first, as a table whose rows select a station."""
    codes = ranked["station_code"].tolist()
    view = pd.DataFrame({"Station": ranked["station_name"], "Code": ranked["station_code"],
                         "Pumps": ranked["pumps"], "Median s": ranked["median_s"],
                         "Within 6 min": ranked["within_target"], "MAE s": ranked["mae_s"],
                         "Bias s": ranked["bias_s"], "Flag": np.where(ranked["flagged"], ranked["flag_scope"], "")})
    sel.sync_table(codes)
    st.dataframe(view, key=sel.table_key, on_select=lambda: sel.on_table(codes), selection_mode="single-row",
                 hide_index=True, height=330, width="stretch",
                 column_config={"Median s": st.column_config.NumberColumn(format="%.0f"),
                                "Within 6 min": st.column_config.NumberColumn(format="percent"),
                                "MAE s": st.column_config.NumberColumn(format="%.0f"),
                                "Bias s": st.column_config.NumberColumn(format="%+.0f")})


def _station_panel(table: pd.DataFrame, flt: station_stats.StatsFilter, db_path: str,
                   sel: SharedSelection) -> None:
    """Show the station search box, the selected station's figures and its attendance-time distribution."""
    names = table.set_index("station_code")["station_name"].to_dict()
    options = sorted(names, key=lambda c: names[c])
    sel.sync_pick(options)
    st.selectbox("Station (search by name or code)", options, key=sel.pick_key,
                 format_func=lambda c: f"{names.get(c, c)} ({c})", on_change=sel.on_pick)
    code = sel.selected
    if code not in names:
        st.info("Pick a station on the map, in the table or here to see its attendance times.")
        return
    row = table.set_index("station_code").loc[code]
    seconds = _distribution(db_path, code, flt)
    flag = f" · **flagged**: {row['flag_text']}" if row["flagged"] else ""
    st.markdown(f"**{plain(row['station_name'])}** ({code}): {int(row['pumps']):,} pumps, median "
                f"{maps.minutes_text(row['median_s'])}, {_pct(row['within_target'])} within 6 minutes · model MAE "
                f"{'-' if not np.isfinite(row['mae_s']) else f'{row.mae_s:.0f} s'}, bias {_signed(row['bias_s'])}"
                f"{flag}")
    if len(seconds):
        st.plotly_chart(_distribution_chart(seconds, f"Attendance times, {flt.first_month} to {flt.last_month}"),
                        width="stretch", key="stations_distribution")
    else:
        st.info("No pump attendances of this station in the chosen period and group.")


def _station_section(db_path: str, predictor: Predictor | None, model_problem: str, note: Any, left: Any,
                     right: Any) -> None:
    """Show the station map (left), the filters and the selected station (right), then the ranking."""
    months = _months(db_path)
    if months.empty:
        left.error("The store holds no pump attendances yet: load the demo data with `python -m lfb setup`, or real "
                   "records with `python -m lfb ingest FILE` (or `python -m lfb fetch`).")
        return
    if not months["real"].any():
        note.warning("**DEMO data**: these figures come from synthetic demo records, not real LFB records.")
    with right:
        flt, measure_name = _filters(months, _groups(db_path))
    measure = MEASURES[measure_name]
    table = with_errors(_summary(db_path, flt), predictor.metadata if predictor else None)
    ranked = _ranked(table, measure)
    sel = SharedSelection(st.session_state, "stations")
    sel.default(ranked["station_code"].iloc[0])
    with left:
        _station_map(table, measure_name, flt, predictor, sel)
    with right:
        if measure.needs_model and predictor is None:
            st.error(model_problem)
        elif measure.needs_model and table[measure.column].isna().all():
            st.info(f"Model {predictor.version}'s test report holds no {measure_name.lower()} for any station (a "
                    "station needs 20 test pumps; bias is reported by models trained since the station map came): "
                    "retrain with `python -m lfb train`.")
        _station_panel(table, flt, db_path, sel)
    below_left, below_right = st.columns([3, 2], gap="medium")
    with below_left:
        _table(ranked, sel)
    with below_right:
        st.plotly_chart(_ranking_chart(ranked, measure_name, sel.selected), width="stretch", key="stations_ranking")


def _draw_map(deck: pdk.Deck, sel: SharedSelection) -> None:
    """Draw the page's one map: the same element in both views, so switching views only changes its layers."""
    key = sel.map_key("stations")
    st.pydeck_chart(deck, key=key, on_select=lambda: sel.on_map(key, "stations"), selection_mode="single-object",
                    height=MAP_HEIGHT)


def _station_map(table: pd.DataFrame, measure_name: str, flt: station_stats.StatsFilter, predictor: Predictor | None,
                 sel: SharedSelection) -> None:
    """Show the stations on the map (a click selects one), the legend, what the figures cover and the sources."""
    measure = MEASURES[measure_name]
    deck = maps.make_deck(maps.base_layers() + _station_layers(table, measure, sel.selected),
                          view=maps.london_view_state(620, MAP_HEIGHT), tooltip=STATION_TIP)
    _draw_map(deck, sel)
    active, why = flag_in_service(predictor.metadata) if predictor else (False, "")
    ring = ("flagged by the model's rule" + ("" if active else " (flag not in service)")
            if table["flagged"].any() else "")
    st.markdown(maps.legend_html(maps.legend_items(measure.stops, measure.label), measure_name, ring),
                unsafe_allow_html=True)
    notes = [f"{flt.first_month} to {flt.last_month}", flt.incident_group or "all incident groups",
             "first pumps" if flt.first_pump_only else "all pumps"]
    if predictor:
        notes.append(f"model {predictor.version}" + (" (DEMO)" if predictor.metadata.get("is_demo") else "")
                     + ("" if active else f"; its flag is {why}"))
    st.caption(" · ".join(notes) + ". " + maps.attribution())


def _cell_layer(cells: pd.DataFrame, colours: np.ndarray, alpha: np.ndarray, outline: np.ndarray,
                tips: list[str], layer_id: str) -> pdk.Layer:
    """Return the 1-km cells as squares with a colour, an opacity, a dark edge where `outline`, and a tooltip.

    Drawn as flat square columns (one instance per cell): far cheaper for the browser than 1,728 polygons.
    """
    lat, lon = bng_to_wgs84(cells["easting"].to_numpy(float) + CELL_HALF_M, cells["northing"].to_numpy(float)
                            + CELL_HALF_M)
    fills = np.column_stack([colours, alpha]).tolist()
    lines = [[50, 0, 40, 170] if o else [0, 0, 0, 0] for o in outline]
    data = [{"lon": round(float(a), 5), "lat": round(float(b), 5), "fill": f, "line": ln, "tip": t}
            for a, b, f, ln, t in zip(lon, lat, fills, lines, tips)]
    return pdk.Layer("ColumnLayer", data, id=layer_id, pickable=True, get_position=["lon", "lat"], disk_resolution=4,
                     angle=45, radius=CELL_HALF_M * 2 ** 0.5, extruded=False, filled=True, stroked=True,
                     get_fill_color="fill", get_line_color="line", line_width_min_pixels=0.8, get_line_width=0)


def _context_stations(removed: str | None = None) -> list[pdk.Layer]:
    """Return the LFB stations as small dark dots, and the removed one as a large red-ringed mark."""
    st_ = stations()
    lfb = st_[st_["is_lfb"] == 1]
    dots = [{"lon": float(a), "lat": float(b)} for a, b in zip(lfb["longitude"], lfb["latitude"])]
    layers = [pdk.Layer("ScatterplotLayer", dots, id="station_dots", pickable=False, get_position=["lon", "lat"],
                        get_fill_color=[30, 30, 30], get_radius=200, radius_min_pixels=2, radius_max_pixels=5)]
    if removed:
        row = st_.loc[removed]
        layers.append(pdk.Layer("ScatterplotLayer", [{"lon": float(row.longitude), "lat": float(row.latitude)}],
                                id="removed", pickable=False, get_position=["lon", "lat"], filled=False,
                                stroked=True, get_line_color=list(UNAVAILABLE), get_radius=250, radius_min_pixels=7,
                                line_width_min_pixels=3))
    return layers


def _coverage_form(predictor: Predictor, names: dict[str, str]) -> tuple[int, int, str, str | None]:
    """Show the coverage pickers in one form (nothing is computed until it is applied)."""
    groups = sorted(predictor.categories.get("incident_group", []))
    with st.form("stations_coverage_form", border=False):
        hour = st.select_slider("Hour", options=list(range(24)), value=17, format_func=lambda h: f"{h:02d}:00",
                                key="coverage_hour")
        a, b = st.columns(2)
        weekday = a.selectbox("Weekday", range(7), index=2, format_func=lambda i: cov.WEEKDAYS[i],
                              key="coverage_weekday")
        group = b.selectbox("Incident group", groups, index=groups.index("Fire") if "Fire" in groups else 0,
                            key="coverage_group")
        options = [""] + sorted(names, key=lambda code: names[code])
        c, d = st.columns([3, 1], vertical_alignment="bottom")
        removed = c.selectbox("Station made unavailable", options, key="coverage_removed",
                              format_func=lambda code: "(none: pick one for the what-if)" if not code
                              else f"{names[code]} ({code})")
        d.form_submit_button("Show", width="stretch")
    return int(hour), int(weekday), str(group), removed or None


def _coverage_section(predictor: Predictor | None, model_problem: str, left: Any, right: Any) -> None:
    """Show London's coverage at a chosen hour and weekday, and what changes without one station, on the one map."""
    if predictor is None:
        left.error(model_problem)
        return
    st_ = stations()
    names = st_.loc[st_["is_lfb"] == 1, "station_name"].to_dict()
    with right:
        hour, weekday, group, removed = _coverage_form(predictor, names)
    try:
        base = cov.coverage(predictor, hour, weekday, group)
        change = cov.what_if(predictor, removed, hour, weekday, group) if removed else None
    except RequestError as exc:
        left.error(f"Cannot estimate the coverage: {exc}")
        return
    s = base.summary
    demo = " (DEMO model)" if predictor.metadata.get("is_demo") else ""
    with right:
        st.markdown(f"First-pump arrival by model {predictor.version}{demo} for a **{group}** call at "
                    f"**{hour:02d}:00 on an ordinary {cov.WEEKDAYS[weekday]}** ({base.when:%d %b %Y}), from the "
                    f"fastest of each 1-km cell's {base.candidates.shape[1]} nearest stations: "
                    f"**{s.share_cells_over:.0%}** of London's {s.cells:,} cells ({s.cells_over:,}) are over 6 "
                    f"minutes, where **{s.share_incidents_over:.0%}** of incidents happen (weighted by the 2023 "
                    "incidents of each cell).")
        shown = _what_if_summary(change, names)
    sel = SharedSelection(st.session_state, "stations")
    with left:
        if shown:
            _what_if_map(change, names, sel)
        else:
            _coverage_map(base, names, sel)
        st.caption("Estimates for a pump leaving its home station, other details of the call unknown; each cell is "
                   "taken at its centre. " + maps.attribution())


def _coverage_map(base: cov.Coverage, names: dict[str, str], sel: SharedSelection) -> None:
    """Show every cell coloured by its first-pump estimate, cells over 6 minutes edged dark."""
    cells = base.cells
    tips = [f"{maps.minutes_text(m)} from {names.get(c, c)} ({c}), P90 {maps.minutes_text(p)}"
            for m, c, p in zip(cells["median_s"], cells["station_code"], cells["p90_s"])]
    layer = _cell_layer(cells, maps.seconds_colours(cells["median_s"]), np.full(len(cells), 200),
                        cells["over_target"].to_numpy(), tips, "coverage")
    deck = maps.make_deck([maps.boroughs_layer(), layer, maps.thames(), maps.outline(), *_context_stations()],
                          view=maps.london_view_state(620, MAP_HEIGHT), tooltip={"text": "{tip}"})
    _draw_map(deck, sel)
    st.markdown(maps.legend_html(maps.legend_items(maps.SECONDS_STOPS, maps.minutes_text),
                                 "First-pump median (dark edge: over 6 minutes)"), unsafe_allow_html=True)


def _what_if_summary(change: cov.WhatIf | None, names: dict[str, str]) -> bool:
    """Show what London loses without one station, and whether the map shows it; True when it does."""
    if change is None:
        st.info("Pick a station made unavailable and press **Show** to see which cells get slower.")
        return False
    w, removed = change.summary, change.summary.removed
    st.markdown(
        f"**Without {names.get(removed, removed)} ({removed})**: {w.cells_slower:,} cells get slower"
        + (f" (by {maps.minutes_text(w.mean_increase_s)} on average, at most "
           f"{maps.minutes_text(w.largest_increase_s)})" if w.cells_slower else "")
        + f"; {w.cells_newly_over:,} newly over 6 minutes; incidents in cells over 6 minutes "
          f"{w.share_incidents_over_before:.1%} → {w.share_incidents_over_after:.1%}.")
    choice = st.radio("The map shows", ("what gets slower", "arrival times"), horizontal=True, key="coverage_shows")
    return choice == "what gets slower"


def _what_if_map(change: cov.WhatIf, names: dict[str, str], sel: SharedSelection) -> None:
    """Show the cells that get slower without one station, coloured by how much, zoomed on them."""
    rows, removed = change.cells[change.cells["slower"]], change.summary.removed  # only cells that change
    tips = [f"{maps.minutes_text(a)} → {maps.minutes_text(m)} (+{maps.minutes_text(d)}), now from "
            f"{names.get(c, c)} ({c})" for a, m, d, c in zip(rows.get("before_s", []), rows.get("median_s", []),
                                                                rows["change_s"], rows.get("station_code", []))]
    layer = _cell_layer(rows, maps.ramp(rows["change_s"], maps.INCREASE_STOPS), np.full(len(rows), 230),
                        rows["newly_over"].to_numpy(bool), tips, "what_if")
    squares = cell_squares(rows["easting"], rows["northing"]).reshape(-1, 2)
    view = maps.view_around(squares[:, 0], squares[:, 1], 620, MAP_HEIGHT)
    deck = maps.make_deck([maps.boroughs_layer(), layer, maps.thames(), maps.outline(), *_context_stations(removed)],
                          view=view, tooltip={"text": "{tip}"})
    _draw_map(deck, sel)
    st.markdown(maps.legend_html(maps.legend_items(maps.INCREASE_STOPS, lambda v: f"+{maps.minutes_text(v)}"),
                                 "Slower by (dark edge: newly over 6 minutes)", "unavailable", UNAVAILABLE),
                unsafe_allow_html=True)


def main() -> None:
    """Lay out the page."""
    head, switch, note = st.columns([1.1, 1.1, 1.8], vertical_alignment="center")
    head.title("Station map", anchor=False)
    view = switch.segmented_control("Show", VIEWS, default=VIEWS[0], key="stations_view",
                                    label_visibility="collapsed") or VIEWS[0]
    settings = get_settings()
    db_path = str(settings.db_path)
    try:
        predictor, problem = serving_model(settings)
        left, right = st.columns([3, 2], gap="medium")
        if view == VIEWS[0]:
            _station_section(db_path, predictor, problem, note, left, right)
        else:
            _coverage_section(predictor, problem, left, right)
    except Exception as exc:  # noqa: BLE001 - the page says what went wrong instead of showing a traceback
        logging.getLogger(__name__).exception("station map failed")
        st.error(f"The station map could not be drawn: {exc}. If this persists, check `python -m lfb status`.")


page_guard(__file__)
main()
