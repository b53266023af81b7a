"""Underestimation risk: where this model's own median has been too low, by a stated rule."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

BANDS = ((0, 7, "night 00-07"), (7, 10, "morning 07-10"), (10, 16, "day 10-16"), (16, 19, "peak 16-19"),
         (19, 24, "evening 19-24"))


@dataclass(frozen=True)
class RiskRule:
    """Flag a group when, over at least `min_rows` test pumps, the share that arrived more than `late_s` after the
    median estimate is, with `confidence`, above the share over all pumps (Wilson lower bound)."""

    min_rows: int = 30
    late_s: float = 60.0
    confidence: float = 0.99  # hundreds of groups are tested: a lax level flags noise
    min_excess: float = 0.05  # and the excess must matter: at least 5 points above all pumps' share
    levels: tuple[str, ...] = ("station", "station_band")

    def describe(self) -> str:
        """Return the rule in words."""
        return (f"a station (or station and time of day) is flagged when at least {self.min_rows} of its test pumps "
                f"arrive over {self.late_s:.0f} s after the estimate more often than all pumps do, with "
                f"{self.confidence:.0%} confidence (Wilson lower bound) and by at least {self.min_excess:.0%} points")


def time_band(hour: np.ndarray | pd.Series) -> np.ndarray:
    """Return the time-of-day band of each hour."""
    hours = np.asarray(hour, float)
    out = np.full(len(hours), "", dtype=object)
    for start, end, label in BANDS:
        out[(hours >= start) & (hours < end)] = label
    return out


def wilson_lower(successes: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """Return the Wilson score lower bound of a proportion (one-sided)."""
    from scipy.stats import norm

    z = norm.ppf(confidence)
    n = np.maximum(np.asarray(n, float), 1)
    p = np.asarray(successes, float) / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def _groups(scored: pd.DataFrame, level: str) -> pd.Series:
    """Return each row's group key at a level."""
    if level == "station":
        return scored["station_code"].astype(str)
    return scored["station_code"].astype(str) + " | " + pd.Series(time_band(scored["hour"]), index=scored.index)


def find_risks(scored: pd.DataFrame, rule: RiskRule = RiskRule()) -> dict[str, Any]:
    """Return the groups whose estimates run too low on `scored` (columns y, median, station_code, hour)."""
    late = (scored["y"] - scored["median"]) > rule.late_s
    overall = float(late.mean()) if len(late) else 0.0
    flagged = []
    for level in rule.levels:
        stats = pd.DataFrame({"g": _groups(scored, level), "late": late,
                              "res": scored["y"] - scored["median"]}).groupby("g").agg(
            n=("late", "size"), late=("late", "sum"), mean_residual=("res", "mean"))
        stats = stats[stats.n >= rule.min_rows]
        lower = wilson_lower(stats.late.to_numpy(), stats.n.to_numpy(), rule.confidence)
        for (key, row), low in zip(stats.iterrows(), lower):
            if low > overall and row.late / row.n >= overall + rule.min_excess:
                flagged.append({"level": level, "key": key, "rows": int(row.n),
                                "late_share": round(row.late / row.n, 4), "lower_bound": round(float(low), 4),
                                "mean_residual_s": round(float(row.mean_residual), 1)})
    return {"rule": asdict(rule), "rule_text": rule.describe(),
            "overall_late_share": round(overall, 4), "groups": flagged}


def flag_mask(risks: dict[str, Any], station_code: np.ndarray, hour: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Return which requests fall in a flagged group, and the reason for each (empty when not flagged)."""
    active = risks.get("active", True)
    by_key = {(g["level"], g["key"]): g for g in risks.get("groups", [])} if active else {}
    stations = pd.Series(station_code).astype(str)
    keys = {"station": stations.to_numpy(), "station_band": (stations + " | " + time_band(hour)).to_numpy()}
    reasons, mask = [], np.zeros(len(stations), bool)
    overall = risks.get("overall_late_share", 0.0)
    for i in range(len(stations)):
        reason = ""
        for level in ("station_band", "station"):
            g = by_key.get((level, keys[level][i]))
            if g:
                what = f"station {g['key']}" if level == "station" else f"station {g['key'].replace(' | ', ' at ')}"
                reason = (f"estimates for {what} were too low: {g['late_share']:.0%} of its {g['rows']} test pumps "
                          f"arrived over a minute later than estimated (all pumps: {overall:.0%})")
                break
        mask[i] = bool(reason)
        reasons.append(reason)
    return mask, reasons


def flag_usefulness(scored: pd.DataFrame, rule: RiskRule = RiskRule()) -> dict[str, Any]:
    """Measure the flag honestly: find risks on the earlier test months, check them on the last month."""
    months = sorted(scored["month"].unique())
    if len(months) < 2:
        return {"note": "needs at least two test months"}
    learn, check = scored[scored.month < months[-1]], scored[scored.month == months[-1]]
    mask, _ = flag_mask(find_risks(learn, rule), check["station_code"].to_numpy(), check["hour"].to_numpy())
    late = ((check["y"] - check["median"]) > rule.late_s).to_numpy()

    def share(m: np.ndarray) -> float | None:
        return round(float(late[m].mean()), 4) if m.any() else None

    return {"learned_on": f"{months[0]}..{months[-2]}", "checked_on": months[-1], "flagged_rows": int(mask.sum()),
            "unflagged_rows": int((~mask).sum()), "late_share_flagged": share(mask),
            "late_share_unflagged": share(~mask)}


def activate(risks: dict[str, Any], usefulness: dict[str, Any]) -> dict[str, Any]:
    """Return the risk list marked active only if the honest check showed flagged pumps arriving late more often."""
    flagged, unflagged = usefulness.get("late_share_flagged"), usefulness.get("late_share_unflagged")
    useful = flagged is not None and unflagged is not None and flagged > unflagged
    reason = (f"checked on {usefulness.get('checked_on')}: flagged pumps late {flagged:.0%} vs unflagged "
              f"{unflagged:.0%}" if flagged is not None and unflagged is not None
              else "no flagged pump in the check month")
    return {**risks, "active": useful,
            "active_reason": ("in service: " if useful else "not in service (no shown value): ") + reason}
