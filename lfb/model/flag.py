"""The live underestimation flag: the model's own chance that a pump arrives over a minute after its median.

An estimate is flagged when that chance (from the log-normal through the model's median and P90) reaches a
threshold chosen on the validation window, or when the station rule of `risk.py` flags its station. The reason
names the kind of request that drives it, with the late share of such validation pumps.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lfb.model.estimator import Prediction, probability_over
from lfb.model.features import MISSING_CATEGORY
from lfb.model.risk import BANDS, RiskRule, find_risks, flag_mask, time_band, wilson_lower

LATE_S = RiskRule.late_s  # "late": arrived more than this many seconds after the median estimate
METHOD = "log-normal through the median and P90"
DRIVER_CONFIDENCE = 0.8  # the reason names the group whose late share is highest at this (Wilson) lower bound
DISTANCE_BANDS = ((0.0, 1000.0, "a run under 1 km"), (1000.0, 2000.0, "a 1-2 km run"),
                  (2000.0, 3000.0, "a 2-3 km run"), (3000.0, 5000.0, "a long run (3-5 km)"),
                  (5000.0, np.inf, "a very long run (over 5 km)"))
TIME_WORDS = dict(zip((label for _s, _e, label in BANDS), ("at night (00-07)", "in the morning (07-10)",
                                                           "in the day (10-16)", "at the evening peak (16-19)",
                                                           "in the evening (19-24)")))
DriverIndex = dict[str, dict[str, tuple[float, int, str]]]


@dataclass
class Flags:
    """The flag as served, for a batch of estimates."""

    p_late: np.ndarray  # chance of arriving more than LATE_S after the median
    flag: np.ndarray
    reason: np.ndarray  # text per estimate ('' when not flagged)
    by_station_rule: np.ndarray  # flagged by the station (and time) rule


def probability_late(median: np.ndarray, p90: np.ndarray) -> np.ndarray:
    """Return the chance of arriving more than LATE_S after the median, from the log-normal through median and P90."""
    median = np.asarray(median, float)
    return probability_over(median + LATE_S, median, np.asarray(p90, float))


def _words(values: np.ndarray, labels: dict[Any, str]) -> np.ndarray:
    """Return the plain words of each value ('' when it has none)."""
    return np.array([labels.get(v, "") for v in values.tolist()], dtype=object)


def driver_groups(features: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Return, for each kind of driver, the plain-words group of every request ('' when unknown)."""
    distance = np.asarray(features["distance_m"], float)
    band = np.full(len(distance), "", dtype=object)
    for low, high, words in DISTANCE_BANDS:
        band[(distance >= low) & (distance < high)] = words
    when = _words(time_band(features["hour"]), TIME_WORDS)
    ground = _words(np.asarray(features["own_ground"], float), {1.0: "inside the station's own ground",
                                                                 0.0: "outside the station's own ground"})
    rank = np.asarray(features["distance_rank"], float)
    nearest = np.where(rank == 1, "from the nearest station",
                       np.where(rank > 1, "from a station that is not the nearest", "")).astype(object)
    home = _words(np.asarray(features["home_station"], float), {0.0: "a pump away from its home station"})
    group = np.array([f"{g} incidents" if g and g != MISSING_CATEGORY else ""
                      for g in np.asarray(features["incident_group"], str).tolist()], dtype=object)

    def pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Return both groups in words where both are known."""
        return np.where((a != "") & (b != ""), a + " " + b, "").astype(object)

    return {"distance": band, "time": when, "ground": ground, "nearest": nearest, "home": home, "incident": group,
            "distance_time": pair(band, when), "distance_ground": pair(band, ground)}


def driver_table(features: Mapping[str, Any], late: np.ndarray, min_rows: int) -> dict[str, dict[str, list[int]]]:
    """Return [pumps, late pumps] of every driver group with at least `min_rows` pumps."""
    late = np.asarray(late, bool)
    table: dict[str, dict[str, list[int]]] = {}
    for kind, groups in driver_groups(features).items():
        known = groups != ""
        values, inverse = np.unique(groups[known].astype(str), return_inverse=True)
        rows = np.bincount(inverse, minlength=len(values))
        lates = np.bincount(inverse, weights=late[known], minlength=len(values))
        table[kind] = {str(v): [int(n), int(k)] for v, n, k in zip(values, rows, lates) if n >= min_rows}
    return table


def flag_figures(late: np.ndarray, flagged: np.ndarray, p_late: np.ndarray) -> dict[str, Any]:
    """Return how often flagged and unflagged estimates were late, and the share flagged."""
    late, flagged = np.asarray(late, bool), np.asarray(flagged, bool)

    def share(values: np.ndarray) -> float | None:
        """Return the mean of a yes/no (or probability) array, None when empty."""
        return round(float(values.mean()), 4) if len(values) else None

    flagged_late, unflagged_late = share(late[flagged]), share(late[~flagged])
    ratio = round(flagged_late / unflagged_late, 3) if flagged_late is not None and unflagged_late else None
    return {"rows": int(len(late)), "flagged_rows": int(flagged.sum()), "flagged_share": share(flagged),
            "late_share": share(late), "late_share_flagged": flagged_late, "late_share_unflagged": unflagged_late,
            "late_ratio": ratio, "mean_p_late": share(np.asarray(p_late, float))}


def fit_flag(features: Mapping[str, Any], y: np.ndarray, prediction: Prediction, *, share: float, min_rows: int,
             window: str) -> dict[str, Any]:
    """Choose the threshold on validation estimates (made before the model saw them) and count what drives lateness.

    The threshold is the chance of being late above which `share` of the validation estimates lie.
    """
    p_late = probability_late(prediction.median, prediction.p90)
    late = np.asarray(y, float) > prediction.median + LATE_S
    threshold = float(np.quantile(p_late, 1 - share)) if len(p_late) else 1.0
    return {"method": METHOD, "late_s": LATE_S, "target_share": share, "threshold": round(threshold, 6),
            "window": window, "driver_min_rows": min_rows,
            "validation": flag_figures(late, p_late >= round(threshold, 6), p_late),
            "drivers": driver_table(features, late, min_rows),
            "text": f"flagged when the chance of arriving over {LATE_S:.0f} s after the median is at least "
                    f"{threshold:.1%} (chosen on {window} to flag {share:.0%} of its estimates), or when the "
                    "station rule flags the station"}


def driver_index(rule: dict[str, Any] | None) -> DriverIndex:
    """Return, per driver kind and group late more often than all pumps: its late-share lower bound, how many
    things it names (a pair of drivers is more telling than one, on a tie) and its reason."""
    if not rule:
        return {}
    overall = rule["validation"]["late_share"] or 0.0
    entries = [(kind, words, rows, late) for kind, groups in rule.get("drivers", {}).items()
               for words, (rows, late) in groups.items()]
    if not entries:
        return {}
    lows = wilson_lower(np.array([e[3] for e in entries]), np.array([e[2] for e in entries]), DRIVER_CONFIDENCE)
    index: DriverIndex = {}
    for (kind, words, rows, late), low in zip(entries, lows):
        if low > overall:
            index.setdefault(kind, {})[words] = (round(float(low), 9), len(kind.split("_")), (
                f"{words}: {late / rows:.0%} of such pumps arrived over a minute later than the estimate "
                f"({late} of {rows} in {rule['window']}; all pumps {overall:.0%})"))
    return index


def _reasons(index: DriverIndex, features: Mapping[str, Any], prediction: Prediction,
             p_late: np.ndarray, rows: np.ndarray) -> list[str]:
    """Return the reason of each flagged row: its most telling driver group, else the model's own wide range."""
    groups = driver_groups({k: np.asarray(features[k])[rows] for k in
                            ("distance_m", "hour", "own_ground", "distance_rank", "home_station", "incident_group")})
    out = []
    for j, i in enumerate(rows):
        found = [index[kind][g[j]] for kind, g in groups.items() if g[j] in index.get(kind, {})]
        if found:
            out.append(max(found)[2])
        else:
            gap = prediction.p90[i] - prediction.median[i]
            out.append(f"wide range for this estimate: its P90 is {gap:.0f} s above the median, a "
                       f"{p_late[i]:.0%} chance of arriving over a minute later than the estimate")
    return out


def served_flags(rule: dict[str, Any] | None, risks: dict[str, Any], features: Mapping[str, Any],
                 prediction: Prediction, *, reasons: bool = True,
                 index: DriverIndex | None = None) -> Flags:
    """Return the flag exactly as a version serves it: the station rule, or the chance of being late at threshold.

    A version without a flag rule (trained before it existed) flags by the station rule only. `index` is
    driver_index(rule), computed once by whoever serves many requests.
    """
    p_late = probability_late(prediction.median, prediction.p90)
    n = len(p_late)
    if risks.get("active", True) and risks.get("groups"):
        by_station, station_reasons = flag_mask(risks, np.asarray(features["station_code"]),
                                                np.asarray(features["hour"], float))
        text = np.array(station_reasons, dtype=object)
    else:  # the station rule flags nothing: skip its per-request work
        by_station, text = np.zeros(n, bool), np.full(n, "", dtype=object)
    risky = p_late >= rule["threshold"] if rule else np.zeros(n, bool)
    flag = by_station | risky
    if reasons and rule:
        rows = np.flatnonzero(risky & ~by_station)
        text[rows] = _reasons(driver_index(rule) if index is None else index, features, prediction, p_late, rows)
    return Flags(p_late, flag, text, by_station)


def served_figures(rule: dict[str, Any] | None, risks: dict[str, Any], features: Mapping[str, Any],
                   prediction: Prediction, y: np.ndarray) -> dict[str, Any]:
    """Return the served flag's figures on scored data (late = over LATE_S after the median)."""
    flags = served_flags(rule, risks, features, prediction, reasons=False)
    late = np.asarray(y, float) > prediction.median + LATE_S
    station_active = bool(risks.get("active", True) and risks.get("groups"))
    return {**flag_figures(late, flags.flag, flags.p_late),
            "flagged_by_station_rule": int(flags.by_station_rule.sum()),
            "threshold": rule["threshold"] if rule else None,
            "served": (rule["text"] if rule else "station rule only (this version has no flag threshold)")
            + ("" if station_active else "; the station rule is not in service for this version")}


def held_out_figures(rule: dict[str, Any], risks: dict[str, Any], earlier: pd.DataFrame,
                        scored: pd.DataFrame) -> dict[str, Any]:
    """Return the served flag's figures on the test window (`scored`: y, median, p90, station_code, hour, month).

    The served station groups were found on the test window itself, so here each test month is flagged with the
    groups the same rule finds on the months before it only (`earlier`, the validation month's estimates made
    before the model saw it, then the earlier test months): as a served version flags the months after its data.
    """
    station_rule = RiskRule(**{**risks["rule"], "levels": tuple(risks["rule"]["levels"])})
    late, flagged, by_station, p_late = [], [], [], []
    for month in sorted(scored["month"].unique()):
        found = find_risks(pd.concat([earlier, scored[scored["month"] < month]], ignore_index=True), station_rule)
        rows = scored[scored["month"] == month]
        estimates = Prediction(rows["median"].to_numpy(float), rows["p90"].to_numpy(float), np.zeros(len(rows)))
        flags = served_flags(rule, {**risks, "groups": found["groups"],
                                    "overall_late_share": found["overall_late_share"]}, rows, estimates, reasons=False)
        late.append(rows["y"].to_numpy(float) > estimates.median + LATE_S)
        flagged.append(flags.flag)
        by_station.append(flags.by_station_rule)
        p_late.append(flags.p_late)
    station_active = bool(risks.get("active", True))
    return {**flag_figures(np.concatenate(late), np.concatenate(flagged), np.concatenate(p_late)),
            "flagged_by_station_rule": int(np.concatenate(by_station).sum()), "threshold": rule["threshold"],
            "served": rule["text"] + ("; station groups of each test month found on the months before it" if
                                      station_active else "; the station rule is not in service for this version")}
