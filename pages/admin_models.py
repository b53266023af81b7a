"""Admin console, Models: every version with its figures and the promotions log's word; the champion and a candidate
side by side; Train now, Promote (with the rule's verdict) and Roll back, each a request run by the sidecar."""
from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lfb.config import Settings, get_settings
from lfb.model.history import default_candidate, promotion_verdict, version_history, version_report
from lfb.model.registry import ModelFileError, RegistryError, champion, rollback_target
from ui import admin
from ui.navigation import page_guard
from ui.widgets import show_error

PROMOTE, ROLLBACK = "models_promote_pending", "models_rollback_pending"  # what a confirmation step is about
CHAMPION_COLOUR, CANDIDATE_COLOUR = "#1f5fa8", "#e08a1e"
METRICS = [("n", "pumps in the test window", "{:,.0f}"), ("mae", "MAE (s)", "{:.1f}"), ("rmse", "RMSE (s)", "{:.1f}"),
           ("r2", "R²", "{:.3f}"), ("median_ae", "median abs. error (s)", "{:.1f}"),
           ("within_60s", "within ±60 s", "{:.1%}"), ("over_360_accuracy", "over 6 min called right", "{:.1%}"),
           ("p90_coverage", "P90 coverage", "{:.1%}")]
FLAG = [("flagged_share", "flagged", "{:.1%}"), ("late_share_flagged", "late when flagged", "{:.1%}"),
        ("late_share_unflagged", "late when not flagged", "{:.1%}"), ("late_ratio", "late ratio", "×{:.2f}")]


def _fmt(value: Any, pattern: str) -> str:
    """Return a figure formatted, or '–' when missing."""
    return "–" if value is None else pattern.format(value)


def _history_table(history: list[dict[str, Any]]) -> None:
    """Show every version: data window, rows, figures, baselines and lift, training time, status, decision, log."""
    st.dataframe(pd.DataFrame([{
        "Version": h["version"], "Status": h["status"], "Created (UTC)": h["created"], "Data": h["data"],
        "Test window": h["test_window"], "Train rows": h["train_rows"], "Test rows": h["test_rows"],
        "MAE s": h["mae"], "P90 cov.": h["p90_coverage"], "Median baseline MAE": h["median_baseline_mae"],
        "Distance baseline MAE": h["distance_baseline_mae"], "Lift vs distance": h["lift_vs_distance"],
        "Lift vs median": h["lift_vs_median"], "Training s": h["train_seconds"], "Demo": "demo" if h["is_demo"] else "",
        "Decision": h["decision"], "Last change": (f"{h['last_change']} by {h['changed_by']} at {h['changed_at']}: "
                                                   f"{h['change_reason']}" if h["last_change"] else ""),
        "Problem": h["problem"]} for h in history]), hide_index=True, width="stretch",
        column_config={"P90 cov.": st.column_config.NumberColumn(format="percent"),
                       "Lift vs distance": st.column_config.NumberColumn(format="percent"),
                       "Lift vs median": st.column_config.NumberColumn(format="percent"),
                       "MAE s": st.column_config.NumberColumn(format="%.1f")})


def _figures_table(reports: list[dict[str, Any]]) -> None:
    """Show the versions' test-window figures, baselines, lift and flag side by side."""
    def column(report: dict[str, Any]) -> list[str]:
        """Return one version's figures in the order of the table's rows."""
        ev, flag = report["evaluation"], report["flag"]
        base = ev.get("baselines", {})
        return ([_fmt(ev.get(k), p) for k, _label, p in METRICS]
                + [_fmt(base.get("median", {}).get("mae"), "{:.1f}"), _fmt(base.get("distance", {}).get("mae"), "{:.1f}"),
                   _fmt(ev.get("lift", {}).get("vs_distance"), "{:+.1%}"), _fmt(ev.get("lift", {}).get("vs_median"),
                                                                                "{:+.1%}")]
                + [_fmt(flag.get(k), p) for k, _label, p in FLAG]
                + [f"{report['windows'].get('test_from', '?')}..{report['windows'].get('test_until', '?')}",
                   str(report["data_until"]), _fmt(report["train_seconds"], "{:,.0f} s")])
    index = ([label for _k, label, _p in METRICS] + ["baseline: training median, MAE (s)",
                                                     "baseline: distance curve, MAE (s)", "lift vs distance curve",
                                                     "lift vs training median"]
             + [f"flag: {label}" for _k, label, _p in FLAG] + ["test window", "data up to", "training time"])
    st.dataframe(pd.DataFrame({r["version"]: column(r) for r in reports}, index=index), width="stretch",
                 height=35 * (len(index) + 1) + 3)


def _by_month_chart(reports: list[dict[str, Any]]) -> go.Figure:
    """Return each version's MAE by month of its test window."""
    fig = go.Figure([go.Scatter(x=[m["month"] for m in r["by_month"]], y=[m["mae"] for m in r["by_month"]],
                                name=r["version"], mode="lines+markers", line={"color": colour})
                     for r, colour in zip(reports, (CHAMPION_COLOUR, CANDIDATE_COLOUR))])
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis={"title": "MAE (s)"},
                      xaxis={"type": "category"},
                      title={"text": "Error by month (each version's test window)", "font": {"size": 13}},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def _by_station_chart(reports: list[dict[str, Any]]) -> go.Figure:
    """Return each version's MAE by station (stations with at least 20 test pumps), ordered by the first one's."""
    first = {s["station_code"]: s["mae"] for s in reports[0]["by_station"]}
    order = sorted(first, key=first.get, reverse=True)
    fig = go.Figure([go.Bar(x=order, y=[{s["station_code"]: s["mae"] for s in r["by_station"]}.get(c) for c in order],
                            name=r["version"], marker_color=colour)
                     for r, colour in zip(reports, (CHAMPION_COLOUR, CANDIDATE_COLOUR))])
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, barmode="group",
                      yaxis={"title": "MAE (s)"}, legend={"orientation": "h", "y": -0.35},
                      title={"text": "Error by station, worst first", "font": {"size": 13}})
    return fig


def _compare(settings: Settings, current: str, history: list[dict[str, Any]]) -> str | None:
    """Show the champion and a chosen candidate side by side; return the candidate."""
    others = [h["version"] for h in history if h["version"] != current]
    if not others:
        st.info(f"{current} is the only version: press **Train now** for a candidate to compare with it.")
        return None
    default = default_candidate(history)
    candidate = st.selectbox("Candidate", others, index=others.index(default) if default in others else 0,
                             key="models_candidate", help="Compared with the champion, and the one Promote acts on")
    reports = []
    for version in (current, candidate):
        try:
            reports.append(version_report(settings.models_dir, version))
        except ModelFileError as exc:
            show_error(f"Cannot read {version}'s figures: {exc.problem}.")
    if len(reports) == 2:
        st.caption(f"Champion **{current}** (blue) beside candidate **{candidate}** (orange), each on its own honest "
                   "test window; the promotion rule compares them on the same newest months.")
        _figures_table(reports)
        left, right = st.columns(2)
        left.plotly_chart(_by_month_chart(reports), config={"displayModeBar": False}, key="models_by_month")
        right.plotly_chart(_by_station_chart(reports), config={"displayModeBar": False}, key="models_by_station")
    return candidate


def _promote(settings: Settings, db: Any, candidate: str, current: str) -> None:
    """Show the rule's verdict on the candidate, and promote it after a confirmation."""
    verdict = promotion_verdict(db, settings.models_dir, candidate)
    if not verdict.can_promote:
        st.info(f"{candidate} cannot be promoted: {verdict.text}.")
        return
    said = f"The promotion rule's verdict on {candidate}: {verdict.text}" + (
        f" (note: {verdict.note})" if verdict.note else "")
    (st.success if verdict.rule_promotes else st.warning)(said)
    reason = st.text_input("Reason (kept in the promotions log)", key="models_promote_reason",
                           placeholder="promoted from the admin console")
    st.button(f"Promote {candidate}", key="models_promote", on_click=admin.ask, args=(PROMOTE, candidate))
    pending = st.session_state.get(PROMOTE)
    against = "" if verdict.rule_promotes else " The rule did not promote it: you are overriding it."
    ok, version = admin.confirmed(PROMOTE, f"Put {pending} into service in place of {current}?{against}",
                                  "Yes, promote")
    if ok:
        if not promotion_verdict(db, settings.models_dir, version).can_promote:
            show_error(f"{version} can no longer be promoted: nothing was done.")
            return
        admin.queue_request(settings, "promote", {"version": version, "reason": reason.strip() or
                                                  "promoted from the admin console"}, f"Promote {version}")


def _rollback(settings: Settings, db: Any, current: str) -> None:
    """Show which version a rollback would put back, and roll back after a confirmation."""
    try:
        target = rollback_target(db, settings.models_dir)
    except RegistryError as exc:
        st.caption(f"Roll back: {exc}.")
        return
    skipped = f" (skipping {'; '.join(target.skipped)})" if target.skipped else ""
    st.button(f"Roll back to {target.version}", key="models_rollback", on_click=admin.ask,
              args=(ROLLBACK, target.version), help="Puts back the champion that served before this one")
    st.caption(f"A rollback puts {target.version} back in service in place of {current}{skipped}.")
    ok, expected = admin.confirmed(ROLLBACK, f"Roll back from {current} to {st.session_state.get(ROLLBACK)}?",
                                   "Yes, roll back")
    if ok:
        if rollback_target(db, settings.models_dir).version != expected:
            show_error("The champions changed meanwhile: nothing was done. Look again and press Roll back if still "
                       "wanted.")
            return
        admin.queue_request(settings, "rollback", {"reason": f"rolled back from the admin console to {expected}"},
                            f"Roll back to {expected}")


def main() -> None:
    """Lay out the page."""
    settings = get_settings()
    admin.header("Models", settings)
    with admin.existing_store(settings) as db:
        if db is None:
            st.info("No data and no model yet: load data first (Data), then train a model here.")
            return
        if st.button("Train now", key="models_train", type="primary",
                     help="Train a candidate on the stored data; the promotion rule decides whether it serves"):
            admin.queue_request(settings, "train", {}, "Train now")
        history = version_history(db, settings.models_dir)
        current = champion(db)
        if not history or current is None:
            st.info("No model has been trained yet: press **Train now**.")
            return
        st.subheader("Versions", anchor=False)
        _history_table(history)
        st.subheader("Champion and candidate", anchor=False)
        candidate = _compare(settings, current, history)
        promote, rollback = st.columns(2, gap="medium")
        with promote:
            if candidate:
                _promote(settings, db, candidate, current)
        with rollback:
            _rollback(settings, db, current)


page_guard(__file__)
main()
