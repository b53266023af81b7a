"""Live accuracy: how the model in service does on what happened after it was trained (no Streamlit here).

Two views. **By month**: the champion's error on every stored pump attendance of the months after its data
(`data_until`), months it never saw, against its own honest test-window MAE; a month whose MAE is more than
`LFB_DRIFT_TOLERANCE` (15%) above that figure is drift, judged only on months with at least `LFB_DRIFT_MIN_PUMPS`
(500) pumps. **The estimates dispatchers received**: the prediction log matched by incident number with the stored
incident, the actual attendance being that of the chosen station's pump when the store has it, else the incident's
first pump.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.config import Settings
from lfb.model.dataset import load_examples
from lfb.model.evaluation import grouped_metrics, scored_frame
from lfb.model.flag import LATE_S
from lfb.model.registry import load_serving
from lfb.model.scoring import within_model_time
from lfb.model.split import month_add
from lfb.model.training import feature_table
from lfb.service.predictions import estimates_with_incident_numbers

IN_CLAUSE = 500  # incident numbers per query
CHOSEN, FIRST = "chosen station's pump", "first pump"


@dataclass(frozen=True)
class MonthAccuracy:
    """The champion's error on one month it never saw."""

    month: str
    pumps: int
    mae: float
    p90_coverage: float
    bias: float  # actual - estimate: positive when pumps arrived later than estimated
    ratio: float  # this month's MAE over the test-window MAE
    judged: bool  # enough pumps to judge drift
    drift: bool


@dataclass(frozen=True)
class LiveAccuracy:
    """The champion's error month by month after its data, against its test-window figure."""

    version: str
    data_until: str
    test_window: str
    test_mae: float
    tolerance: float
    min_pumps: int
    demo: bool  # the months are demo records (the store holds no real ones)
    months: list[MonthAccuracy]
    dropped: dict[str, int] = field(default_factory=dict)
    warning: str = ""  # the champion cannot load and the previous one serves

    @property
    def limit(self) -> float:
        """Return the MAE above which a month is drift."""
        return self.test_mae * (1 + self.tolerance)

    @property
    def drifting(self) -> list[str]:
        """Return the judged months whose MAE is beyond the tolerance."""
        return [m.month for m in self.months if m.drift]

    def words(self) -> str:
        """Return the verdict in a sentence."""
        base = (f"test-window MAE {self.test_mae:.1f} s ({self.test_window}); drift above {self.limit:.1f} s "
                f"(+{self.tolerance:.0%})")
        if not self.months:
            return (f"No pump attendances after {self.data_until} (the end of {self.version}'s data) are stored yet: "
                    "live accuracy appears once newer months are ingested.")
        if self.drifting:
            return (f"Drift: {self.version}'s error in {', '.join(self.drifting)} is more than {self.tolerance:.0%} "
                    f"above its test-window figure ({base}). Train a new model on the newer months (Models: Train "
                    "now) and let the promotion rule compare them.")
        if not any(m.judged for m in self.months):
            return (f"Too few pumps to judge yet: no month after {self.data_until} has {self.min_pumps} pumps "
                    f"({base}).")
        return f"No drift: every judged month of {self.version} is within {self.tolerance:.0%} of its {base}."


def _real_rows_stored(db: sqlite_utils.Database) -> bool:
    """Return True when the store holds real (not demo) incidents."""
    return bool(db.execute("SELECT EXISTS(SELECT 1 FROM incidents WHERE is_demo = 0)").fetchone()[0])


def judge(mae: float, pumps: int, test_mae: float, tolerance: float, min_pumps: int) -> tuple[bool, bool]:
    """Return (judged, drift) for a month: judged with enough pumps, drift when its MAE is beyond the tolerance."""
    judged = pumps >= min_pumps
    return judged, judged and mae > test_mae * (1 + tolerance)


def live_accuracy(db: sqlite_utils.Database, settings: Settings) -> LiveAccuracy:
    """Return the champion's error on every stored month after its data (real months only once any are stored)."""
    serving = load_serving(db, settings.models_dir)  # NoChampion / NothingServes when nothing can serve
    meta = serving.metadata
    test_mae = float(meta["evaluation"]["mae"])
    window = f"{meta['windows']['test_from']}..{meta['windows']['test_until']}"
    real = _real_rows_stored(db)
    examples = load_examples(db, since=month_add(meta["data_until"], 1), demo=False if real else None)
    kept = within_model_time(examples, meta["time_range"])
    months: list[MonthAccuracy] = []
    if not kept.frame.empty:
        table = feature_table(kept)
        scored = scored_frame(table, serving.model.predict(table))
        for row in grouped_metrics(scored, "month"):
            judged, drift = judge(row["mae"], row["n"], test_mae, settings.drift_tolerance, settings.drift_min_pumps)
            months.append(MonthAccuracy(row["month"], row["n"], row["mae"], row["p90_coverage"], row["bias"],
                                        round(row["mae"] / test_mae, 4), judged, drift))
    dropped = {reason: n for reason, n in kept.dropped.items() if n}
    return LiveAccuracy(serving.version, meta["data_until"], window, test_mae, settings.drift_tolerance,
                        settings.drift_min_pumps, not real, months, dropped, serving.warning)


# ---- the estimates dispatchers received, matched with what happened ------------------------------------------------

@dataclass(frozen=True)
class MatchSummary:
    """How the logged estimates compare with what happened."""

    logged: int  # estimates logged with an incident number (the latest per incident)
    matched: int  # of those, incidents found in the store with an attendance time
    mae: float | None
    bias: float | None
    within_p90: float | None  # share that arrived no later than the P90 bound
    late: int  # arrived more than 60 s after the median estimate
    flagged: int
    flagged_late: int

    def words(self) -> str:
        """Return the summary in a sentence."""
        if not self.logged:
            return ("No estimate has been logged with an incident number yet: dispatchers give one in the estimate "
                    "form's details, so it can be matched here with what happened.")
        if not self.matched:
            return (f"None of the {self.logged:,} estimates logged with an incident number matches a stored incident "
                    "yet: they match once the records of their month are ingested.")
        unflagged = self.matched - self.flagged
        late_unflagged = self.late - self.flagged_late
        flag_text = (f"{self.flagged:,} were flagged as likely too low, {self.flagged_late:,} of them late "
                     f"({self.flagged_late / self.flagged:.0%})" if self.flagged else "none was flagged")
        other = f", against {late_unflagged / unflagged:.0%} of the others" if self.flagged and unflagged else ""
        return (f"{self.matched:,} of {self.logged:,} estimates matched: MAE {self.mae:.1f} s, "
                f"{self.within_p90:.0%} within their P90 bound, {self.late:,} late (over a minute after the median); "
                f"{flag_text}{other}.")


def _chunks(items: list[str], size: int = IN_CLAUSE) -> list[list[str]]:
    """Return a list cut into pieces of at most `size`."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def _outcomes(db: sqlite_utils.Database, numbers: list[str]) -> tuple[dict[str, tuple], dict[tuple[str, str], float]]:
    """Return, for the incident numbers stored, their first pump (seconds, station) and each station's first pump."""
    incidents, by_station = {}, {}
    for part in _chunks(numbers):
        marks = ", ".join("?" * len(part))
        for number, seconds, station in db.execute(
                f"SELECT incident_number, first_pump_seconds, first_pump_station FROM incidents "
                f"WHERE incident_number IN ({marks})", part):
            incidents[number] = (seconds, station)
        for number, station, seconds in db.execute(
                f"SELECT incident_number, station_code, MIN(attendance_seconds) FROM attendances "
                f"WHERE incident_number IN ({marks}) AND attendance_seconds > 0 GROUP BY 1, 2", part):
            by_station[(number, station)] = seconds
    return incidents, by_station


def _actual(entry: dict[str, Any], incidents: dict[str, tuple], by_station: dict[tuple[str, str], float]
            ) -> tuple[float | None, str]:
    """Return what happened for one logged estimate: the attendance in seconds and where it comes from."""
    number = entry["key"]
    chosen = by_station.get((number, entry["station_code"]))
    if chosen is not None:
        return float(chosen), CHOSEN
    seconds, station = incidents.get(number, (None, None))
    if seconds is not None and seconds > 0:
        return float(seconds), f"{FIRST} ({station})" if station else FIRST
    return None, ""


MATCH_COLUMNS = ["id", "at", "username", "incident_number", "station_code", "model_version", "is_demo", "median_s",
                 "p90_s", "flag", "actual_s", "source", "error_s", "within_p90", "late"]


def matched_estimates(db: sqlite_utils.Database, settings: Settings) -> tuple[pd.DataFrame, MatchSummary]:
    """Return the logged estimates matched with their incidents (newest first) and the summary of them all."""
    logged = estimates_with_incident_numbers(settings)
    for entry in logged:
        entry["key"] = entry["incident_number"].strip().upper()
    incidents, by_station = _outcomes(db, sorted({e["key"] for e in logged}))
    rows = []
    for entry in logged:
        actual, source = _actual(entry, incidents, by_station)
        if actual is None:
            continue
        rows.append({**{k: entry[k] for k in MATCH_COLUMNS[:10]}, "actual_s": actual, "source": source,
                     "error_s": actual - entry["median_s"], "within_p90": actual <= entry["p90_s"],
                     "late": actual > entry["median_s"] + LATE_S})
    frame = pd.DataFrame(rows, columns=MATCH_COLUMNS).sort_values("id", ascending=False, ignore_index=True)
    return frame, summarise(frame, len(logged))


def summarise(frame: pd.DataFrame, logged: int) -> MatchSummary:
    """Return the summary of matched estimates (a frame of matched_estimates)."""
    if frame.empty:
        return MatchSummary(logged, 0, None, None, None, 0, 0, 0)
    error = frame["error_s"].to_numpy(float)
    flagged, late = frame["flag"].to_numpy(bool), frame["late"].to_numpy(bool)
    return MatchSummary(logged, len(frame), float(np.mean(np.abs(error))), float(np.mean(error)),
                        float(frame["within_p90"].mean()), int(late.sum()), int(flagged.sum()),
                        int((late & flagged).sum()))
