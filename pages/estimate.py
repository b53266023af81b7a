"""Estimate: when will the pump arrive? The dispatcher's landing page: one form, the answer, the map, the ranking."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk
import streamlit as st

from lfb.config import get_settings
from lfb.data.reference import stations
from lfb.geo.postcodes import ATTRIBUTION as POSTCODE_ATTRIBUTION
from lfb.model.serving import Predictor
from lfb.service.estimates import (DETAIL_FIELDS, Answer, AnswerError, DispatchRequest, answer, now_london,
                                   station_options, type_options)
from lfb.service.predictions import recent_estimates
from ui import maps
from ui.navigation import page_guard
from ui.resources import serving_model
from ui.widgets import plain, show_error

FASTEST = "Fastest station (see the ranking)"
NONE = "—"
TARGET_S = 360.0
ANSWER = "estimate_answer"
MAP_KEY = "estimate_map"  # one map element for the overview and every answer: the browser redraws, not rebuilds
MAP_HEIGHT = 420
DETAIL_LABELS = {"stop_code": "Stop code", "special_service_type": "Special service type",
                 "property_category": "Property category", "property_type": "Property type"}
CHOSEN_RING = [20, 20, 20]
INCIDENT_COLOUR = [200, 0, 90]


def _clock(seconds: float) -> str:
    """Return seconds as 'm:ss'."""
    return maps.minutes_text(seconds)


def _form(predictor: Predictor) -> DispatchRequest | None:
    """Draw the request form; return the request when it is submitted."""
    options = type_options(predictor)
    codes = station_options()
    labels = {code: label for code, label in codes}
    now = now_london()
    with st.form("estimate_form", enter_to_submit=True, border=True):
        location = st.text_input("Location", placeholder="SE1 7PB", key="estimate_location",
                                 help="A London postcode (SE1 7PB), a postcode district (SE1), 'latitude, longitude' "
                                      "(51.5034, -0.1195) or 'easting, northing' (530450, 179050)")
        station = st.selectbox("Station", [FASTEST, *labels], format_func=lambda c: labels.get(c, c),
                               key="estimate_station", help="Type to search by name or code")
        day, clock = st.columns(2)
        date = day.date_input("Date", value=now.date(), format="DD/MM/YYYY", key="estimate_date")
        time = clock.time_input("Time (London)", value=now.time(), step=60, key="estimate_time")
        groups = options["incident_group"]
        group = st.selectbox("Incident group", groups, index=groups.index("Fire") if "Fire" in groups else 0,
                             key="estimate_group")
        with st.expander("Details (optional)"):
            details = {name: st.selectbox(DETAIL_LABELS[name], [NONE, *options.get(name, [])], key=f"estimate_{name}")
                       for name in DETAIL_FIELDS}
            away = st.checkbox("The pump is away from its home station", key="estimate_away")
            number = st.text_input("Incident number", key="estimate_incident_number",
                                   help="Kept with the estimate, so it can be matched later with what happened")
        submitted = st.form_submit_button("Estimate", type="primary", width="stretch")
    if not submitted:
        return None
    return DispatchRequest(
        location=location, when=dt.datetime.combine(date, time).strftime("%Y-%m-%d %H:%M"), incident_group=group,
        station=None if station == FASTEST else station, home_station=not away,
        details={name: (None if value == NONE else value) for name, value in details.items()},
        incident_number=number.strip() or None)


def _headline(result: Answer) -> None:
    """Show the answer: median, upper bound, chance of missing the target, the flag and what the estimate rests on."""
    e = result.chosen
    st.markdown(f"#### {plain(e.station_name)} ({e.station_code}) → {plain(result.where.text)}")
    a, b, c = st.columns(3)
    a.metric(f"Arrives in (median, {e.median_s:.0f} s)", _clock(e.median_s),
             help="From mobilisation to arrival; half of such pumps arrive sooner, half later")
    b.metric(f"Upper bound (P90, {e.p90_s:.0f} s)", _clock(e.p90_s), help="Nine in ten such pumps arrive before it")
    c.metric("Chance over 6 minutes", f"{e.p_over_360:.0%}", help="The LFB target for the first pump is 6 minutes")
    if e.flag:
        st.warning(f"**This estimate is likely too low.** {e.flag_reason}", icon=":material/warning:")
    else:
        st.caption(f"No sign that this estimate is too low: {e.p_late:.0%} chance of arriving over a minute later "
                   "than the median.")
    sooner = result.sooner
    if sooner:
        best = sooner[0]
        st.info(f"**{plain(best.station_name)} ({best.station_code})** would likely arrive sooner: median "
                f"{_clock(best.median_s)} against {_clock(e.median_s)}.", icon=":material/directions_run:")
    for note in e.notes:
        st.caption(f"Note: {plain(note)}")
    demo = " · **DEMO model** (trained on synthetic data)" if e.demo else ""
    st.caption(f"{result.when:%a %d %b %Y %H:%M} · {e.distance_m / 1000:.1f} km in a straight line · model "
               f"{e.model_version}{demo}")


def _map(result: Answer) -> pdk.Deck:
    """Return the map: the incident, the chosen station and the line between them, the other stations coloured."""
    ranking = pd.DataFrame([{"code": x.station_code, "name": x.station_name, "median": x.median_s, "p90": x.p90_s}
                            for x in result.ranking])
    where = stations()
    ranking["lat"] = ranking["code"].map(where.latitude)
    ranking["lon"] = ranking["code"].map(where.longitude)
    ranking["colour"] = maps.seconds_colours(ranking["median"]).tolist()
    ranking["label"] = ranking["median"].map(_clock)
    chosen = ranking[ranking.code == result.chosen.station_code]
    if chosen.empty:  # a station outside the nearest ones was chosen
        row = where.loc[result.chosen.station_code]
        chosen = pd.DataFrame([{"code": row.station_code, "name": row.station_name, "median": result.chosen.median_s,
                                "p90": result.chosen.p90_s, "lat": row.latitude, "lon": row.longitude,
                                "colour": maps.seconds_colours([result.chosen.median_s])[0].tolist(),
                                "label": _clock(result.chosen.median_s)}])
    incident = {"lat": result.where.latitude, "lon": result.where.longitude}
    line = [{"from": [float(chosen.lon.iloc[0]), float(chosen.lat.iloc[0])], "to": [incident["lon"], incident["lat"]]}]
    layers = [*maps.base_layers()]
    if result.where.uncertainty_m > 100:
        layers.append(pdk.Layer("ScatterplotLayer", [incident | {"r": result.where.uncertainty_m}], id="uncertainty",
                                get_position="[lon, lat]", get_radius="r", filled=True, stroked=True,
                                get_fill_color=[200, 0, 90, 30], get_line_color=[200, 0, 90, 160],
                                line_width_min_pixels=1))
    layers += [
        pdk.Layer("LineLayer", line, id="route", get_source_position="from", get_target_position="to",
                  get_color=[30, 30, 30], get_width=3),
        pdk.Layer("ScatterplotLayer", ranking.to_dict("records"), id="stations", get_position="[lon, lat]",
                  get_fill_color="colour", get_radius=260, radius_min_pixels=6, stroked=True,
                  get_line_color=[255, 255, 255], line_width_min_pixels=1, pickable=True),
        pdk.Layer("ScatterplotLayer", chosen.to_dict("records"), id="chosen", get_position="[lon, lat]",
                  get_fill_color="colour", get_radius=330, radius_min_pixels=9, stroked=True,
                  get_line_color=CHOSEN_RING, line_width_min_pixels=3, pickable=True),
        pdk.Layer("TextLayer", ranking.to_dict("records"), id="labels", get_position="[lon, lat]",
                  get_text="label", get_size=12, get_pixel_offset=[0, -16], get_color=[20, 20, 20],
                  background=True, get_background_color=[255, 255, 255, 210]),
        pdk.Layer("ScatterplotLayer", [incident], id="incident", get_position="[lon, lat]",
                  get_fill_color=INCIDENT_COLOUR, get_radius=200, radius_min_pixels=7, stroked=True,
                  get_line_color=[255, 255, 255], line_width_min_pixels=2),
    ]
    view = maps.view_around([*ranking.lon, incident["lon"]], [*ranking.lat, incident["lat"]], 380, 330, 14.0)
    return maps.make_deck(layers, view, tooltip={"html": "<b>{name} ({code})</b><br/>median {label}",
                                                 "style": {"fontSize": "12px"}})


def _overview() -> pdk.Deck:
    """Return London's stations on the map drawn before the first estimate (it also readies the browser's map
    drawing, so the first answer's map appears at once)."""
    where = stations()
    lfb = where[where.is_lfb == 1]
    data = [{"code": c, "name": n, "lat": a, "lon": b} for c, n, a, b in
            zip(lfb.station_code, lfb.station_name, lfb.latitude, lfb.longitude)]
    layers = [*maps.base_layers(),
              pdk.Layer("LineLayer", [], id="route", get_source_position="from", get_target_position="to"),
              pdk.Layer("ScatterplotLayer", data, id="stations", get_position="[lon, lat]",
                        get_fill_color=[60, 60, 60], get_radius=300, radius_min_pixels=3, pickable=True),
              pdk.Layer("TextLayer", data, id="labels", get_position="[lon, lat]", get_text="code", get_size=10,
                        get_pixel_offset=[0, -12], get_color=[20, 20, 20], background=True,
                        get_background_color=[255, 255, 255, 200])]
    return maps.make_deck(layers, maps.london_view_state(380, MAP_HEIGHT), tooltip={"html": "<b>{name} ({code})</b>"})


def _ranking_table(result: Answer) -> pd.DataFrame:
    """Return the nearest stations ordered by estimated arrival, as the page shows them."""
    return pd.DataFrame([{
        "Station": ("▶ " if e.station_code == result.chosen.station_code else "") + f"{e.station_code} {e.station_name}"
                   + (" ⚠" if e.flag else ""),
        "Median": _clock(e.median_s), "P90": _clock(e.p90_s), ">6 min": f"{e.p_over_360:.0%}",
    } for e in result.ranking])


def _day_chart(result: Answer) -> go.Figure:
    """Return the chosen route's median and P90 for every hour of that day, the call's hour marked."""
    p = result.profile
    fig = go.Figure([
        go.Scatter(x=p.hour, y=p.p90_s / 60, name="P90", line={"color": "rgba(213,62,40,0.9)", "dash": "dot"}),
        go.Scatter(x=p.hour, y=p.median_s / 60, name="Median", line={"color": "rgb(0,114,178)", "width": 3}),
    ])
    fig.add_hline(y=TARGET_S / 60, line={"color": "grey", "dash": "dash"}, annotation_text="6 min target",
                  annotation_position="top left")
    fig.add_vline(x=result.when.hour + result.when.minute / 60, line={"color": "black", "width": 1})
    fig.update_layout(height=230, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.18},
                      title={"text": "Same route, every hour of the day", "font": {"size": 13}},
                      xaxis={"title": "hour", "dtick": 3, "range": [0, 23]}, yaxis={"title": "minutes"})
    return fig


def _recent(username: str) -> None:
    """Show the dispatcher's own recent estimates."""
    rows = recent_estimates(get_settings(), username, limit=10)
    with st.expander(f"Your recent estimates ({len(rows)})", expanded=False):
        if not rows:
            st.caption("None yet.")
            return
        st.dataframe(pd.DataFrame([{
            "Asked (UTC)": r["at"], "Call time": r["call_time"], "Location": r["location_text"],
            "Station": r["station_code"], "Group": r["incident_group"], "Median": _clock(r["median_s"]),
            "P90": _clock(r["p90_s"]), "Flag": "⚠" if r["flag"] else "", "Incident": r["incident_number"] or "",
            "Model": r["model_version"] + (" (demo)" if r["is_demo"] else ""),
        } for r in rows]), hide_index=True, width="stretch")


def _show(result: Answer, top: st.delta_generator.DeltaGenerator, left: st.delta_generator.DeltaGenerator,
          right: st.delta_generator.DeltaGenerator) -> None:
    """Lay out an answer: the headline above, the map and the ranking side by side, the day's chart below."""
    with top:
        _headline(result)
    with left:
        st.pydeck_chart(_map(result), height=MAP_HEIGHT, key=MAP_KEY)
        st.caption(maps.attribution())
    with right:
        st.dataframe(_ranking_table(result), hide_index=True, width="stretch", height=390, column_config={
            "Station": st.column_config.TextColumn(width=128),
            **{name: st.column_config.TextColumn(width=46) for name in ("Median", "P90", ">6 min")}})
        st.caption("The nearest stations, soonest first. ▶ = chosen, ⚠ = likely too low.")
        st.plotly_chart(_day_chart(result), config={"displayModeBar": False})


def _waiting(top: st.delta_generator.DeltaGenerator, left: st.delta_generator.DeltaGenerator) -> None:
    """Show what to do, and London's stations on the map (the same map element the answer will use)."""
    top.info("Fill in the location and press **Estimate** (or Enter). The station defaults to the fastest.",
             icon=":material/info:")
    with left:
        st.pydeck_chart(_overview(), height=MAP_HEIGHT, key=MAP_KEY)
        st.caption(f"The LFB's stations. {maps.attribution()}")


def main() -> None:
    """Lay out the page."""
    settings = get_settings()
    st.header("When will the pump arrive?", anchor=False)
    predictor, problem = serving_model(settings)
    if predictor is None:
        show_error(problem)
        return
    if predictor.warning:
        st.warning(predictor.warning)
    username = st.session_state.get("username") or "unknown"
    form, out = st.columns([0.85, 2.15], gap="medium")
    with form:
        request = _form(predictor)
        st.caption(f"Postcodes: {POSTCODE_ATTRIBUTION}")
    with out:
        top = st.container()  # messages and the headline; then the map and the ranking, always at the same place
        left, right = st.columns([1.1, 1])
    if request is not None:
        if not request.location.strip():
            top.error("Give the location: a London postcode (SE1 7PB), a district (SE1), 'latitude, longitude' or "
                      "'easting, northing'.", icon=":material/error:")
            st.session_state.pop(ANSWER, None)
        else:
            try:
                with top, st.spinner("Estimating ..."):
                    st.session_state[ANSWER] = answer(settings, predictor, request, username)
            except AnswerError as exc:
                st.session_state.pop(ANSWER, None)
                top.error(plain(exc), icon=":material/error:")
    result = st.session_state.get(ANSWER)
    if result is not None and result.chosen.model_version == predictor.version:
        _show(result, top, left, right)
    elif request is None:
        _waiting(top, left)
    _recent(username)


page_guard(__file__)
main()
