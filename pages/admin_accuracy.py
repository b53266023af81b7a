"""Admin console, Live accuracy: the champion's error month by month on data it never saw, against its test-window
figure, with drift beyond a stated tolerance; and the estimates dispatchers received, matched with what happened."""
from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lfb.config import Settings, get_settings
from lfb.data.status import data_marker
from lfb.model.live import LiveAccuracy, live_accuracy, matched_estimates
from lfb.model.registry import NoChampion, NothingServes, champion
from ui import admin
from ui.navigation import page_guard

OK, DRIFT, UNJUDGED = "#2e9e5b", "#c0392b", "#a0a0a0"
SHOWN = 200  # matched estimates listed
HOW_TO_READ = (
    "Each bar is the champion's mean absolute error (MAE) on every pump of a month after the end of its data: months "
    "it never saw. The solid line is its MAE on its honest test window at training; the dashed line is that figure "
    "plus the tolerance (LFB_DRIFT_TOLERANCE). A month above the dashed line is **drift**: the model is doing clearly "
    "worse than it promised, so train a new one on the newer months. Months with fewer pumps than LFB_DRIFT_MIN_PUMPS "
    "are shown in grey and not judged: their MAE moves too much by chance.")


@st.cache_data(max_entries=8, show_spinner="Scoring the champion on the newer months ...")
def _live(db_path: str, version: str, marker: tuple, tolerance: float, min_pumps: int,
          _settings: Settings) -> LiveAccuracy:
    """Return the live accuracy (cached per champion, store contents and settings)."""
    with admin.existing_store(_settings) as db:
        return live_accuracy(db, _settings)


def _chart(live: LiveAccuracy) -> go.Figure:
    """Return the monthly MAE as bars coloured by verdict, with the test-window MAE and the drift limit."""
    colours = [DRIFT if m.drift else OK if m.judged else UNJUDGED for m in live.months]
    fig = go.Figure(go.Bar(x=[m.month for m in live.months], y=[m.mae for m in live.months], marker_color=colours,
                           text=[f"{m.pumps:,} pumps" for m in live.months], textposition="inside",
                           hovertemplate="%{x}: MAE %{y:.1f} s, %{text}<extra></extra>", name="MAE"))
    fig.add_hline(y=live.test_mae, line={"color": "black", "width": 2},
                  annotation_text=f"test window {live.test_mae:.1f} s", annotation_position="bottom right")
    fig.add_hline(y=live.limit, line={"color": DRIFT, "dash": "dash"},
                  annotation_text=f"drift above {live.limit:.1f} s (+{live.tolerance:.0%})",
                  annotation_position="top left")
    top = max([live.limit, *[m.mae for m in live.months]]) * 1.15
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 20, "b": 10}, yaxis={"title": "MAE (s)",
                                                                                      "range": [0, top]},
                      xaxis={"type": "category"}, showlegend=False)
    return fig


def _months_table(live: LiveAccuracy) -> pd.DataFrame:
    """Return the monthly figures as the page lists them."""
    return pd.DataFrame([{
        "Month": m.month, "Pumps": m.pumps, "MAE s": round(m.mae, 1), "vs test window": f"{m.ratio - 1:+.0%}",
        "P90 coverage": f"{m.p90_coverage:.1%}", "Bias s (actual − estimate)": round(m.bias, 1),
        "Verdict": "drift" if m.drift else "within tolerance" if m.judged else f"not judged (under {live.min_pumps})",
    } for m in live.months])


def _monthly(settings: Settings, db: Any) -> None:
    """Show the champion's error month by month after its data, and whether it drifts."""
    version = champion(db)
    try:
        live = _live(str(settings.db_path), version or "", data_marker(db), settings.drift_tolerance,
                     settings.drift_min_pumps, settings)
    except (NoChampion, NothingServes) as exc:
        st.info(f"No model to judge: {exc}.")
        return
    if live.warning:
        st.warning(live.warning)
    verdict = live.words()
    if live.drifting:
        st.error(verdict, icon=":material/trending_up:")
    elif live.months and any(m.judged for m in live.months):
        st.success(verdict, icon=":material/check_circle:")
    else:
        st.info(verdict)
    if not live.months:
        return
    if live.demo:
        st.caption("These months are demo records (the store holds no real ones yet).")
    st.plotly_chart(_chart(live), config={"displayModeBar": False}, key="accuracy_chart")
    st.dataframe(_months_table(live), hide_index=True, width="stretch")
    dropped = "; ".join(f"{n:,} {why}" for why, n in live.dropped.items())
    st.caption(f"Model {live.version}, data up to {live.data_until}." + (f" Left out: {dropped}." if dropped else ""))


def _matched(settings: Settings, db: Any) -> None:
    """Show the estimates dispatchers received, matched by incident number with what happened."""
    frame, summary = matched_estimates(db, settings)
    st.markdown(summary.words())
    if frame.empty:
        return
    a, b, c, d = st.columns(4)
    a.metric("Matched estimates", f"{summary.matched:,}", help=f"of {summary.logged:,} logged with an incident number")
    b.metric("MAE", f"{summary.mae:.1f} s", help=f"mean of actual − estimate: {summary.bias:+.1f} s")
    c.metric("Within the P90 bound", f"{summary.within_p90:.0%}", help="goal: 90%")
    d.metric("Flagged, then late", f"{summary.flagged_late:,} of {summary.flagged:,}",
             help="late: arrived over a minute after the median estimate")
    shown = frame.head(SHOWN)
    st.dataframe(pd.DataFrame({
        "Asked (UTC)": shown["at"], "Dispatcher": shown["username"], "Incident": shown["incident_number"],
        "Station": shown["station_code"], "Median s": shown["median_s"].round(0), "P90 s": shown["p90_s"].round(0),
        "Flag": shown["flag"].map({True: "⚠", False: ""}), "Actual s": shown["actual_s"].round(0),
        "From": shown["source"], "Error s": shown["error_s"].round(0),
        "Within P90": shown["within_p90"].map({True: "yes", False: "no"}),
        "Late": shown["late"].map({True: "late", False: ""}),
        "Model": shown["model_version"] + shown["is_demo"].map({True: " (demo)", False: ""})}),
        hide_index=True, width="stretch")
    newest = f" (the newest {SHOWN:,})" if len(frame) > SHOWN else ""
    st.caption(f"The latest estimate per incident number, newest first{newest}. The actual time is the chosen "
               "station's pump when the store has it, else the incident's first pump.")


def main() -> None:
    """Lay out the page."""
    settings = get_settings()
    admin.header("Live accuracy", settings)
    with admin.existing_store(settings) as db:
        if db is None:
            st.info("No data store yet: live accuracy appears once data is loaded and a model serves (Data, Models).")
            return
        st.subheader("The champion on months it never saw", anchor=False)
        st.caption(HOW_TO_READ)
        _monthly(settings, db)
        st.subheader("The estimates dispatchers received", anchor=False)
        _matched(settings, db)


page_guard(__file__)
main()
