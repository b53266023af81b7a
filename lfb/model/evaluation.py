"""Honest evaluation: metrics, baselines and breakdowns, the same for training reports, the app and the CLI."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from lfb.model.estimator import TARGET_S, DistanceCurve, Prediction

METRIC_KEYS = ("n", "mae", "rmse", "r2", "median_ae", "within_60s", "over_360_accuracy", "p90_coverage")


def metrics(y: np.ndarray, median: np.ndarray, p90: np.ndarray) -> dict[str, Any]:
    """Return the evaluation metrics of median and P90 estimates against actual seconds."""
    y, median, p90 = (np.asarray(a, float) for a in (y, median, p90))
    n = len(y)
    if n == 0:
        return {"n": 0, **{k: None for k in METRIC_KEYS[1:]}}
    err = median - y
    var = float(np.var(y))
    return {
        "n": n,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "r2": float(1 - np.mean(err ** 2) / var) if var > 0 else None,
        "median_ae": float(np.median(np.abs(err))),
        "within_60s": float(np.mean(np.abs(err) <= 60)),
        "over_360_accuracy": float(np.mean((median > TARGET_S) == (y > TARGET_S))),
        "p90_coverage": float(np.mean(y <= p90)),
    }


def _rounded(values: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """Return metric values rounded for reports."""
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in values.items()}


def bias(y: np.ndarray, median: np.ndarray) -> float | None:
    """Return the mean of actual minus median estimate (positive: pumps arrive later than estimated)."""
    y, median = np.asarray(y, float), np.asarray(median, float)
    return float(np.mean(y - median)) if len(y) else None


def grouped_metrics(frame: pd.DataFrame, by: str, min_rows: int = 1) -> list[dict[str, Any]]:
    """Return metrics and bias (actual - median) per value of column `by` of a frame holding y, median and p90."""
    out = []
    for key, part in frame.groupby(by, sort=True):
        if len(part) >= min_rows:
            key = key.item() if hasattr(key, "item") else key
            figures = {**metrics(part["y"], part["median"], part["p90"]), "bias": bias(part["y"], part["median"])}
            out.append({by: key, **_rounded(figures)})
    return out


@dataclass
class Baselines:
    """What the model must beat, fitted on the training data only."""

    median_s: float
    p90_s: float
    distance_median: DistanceCurve
    distance_p90: DistanceCurve

    @classmethod
    def fit(cls, distance: np.ndarray, y: np.ndarray) -> Baselines:
        """Fit the constant (training median) and distance-curve baselines."""
        return cls(float(np.median(y)), float(np.quantile(y, 0.9)), DistanceCurve.fit(distance, y, 0.5),
                   DistanceCurve.fit(distance, y, 0.9))

    def predict(self, name: str, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (median, p90) estimates of baseline `name` ('median' or 'distance')."""
        if name == "median":
            n = len(distance)
            return np.full(n, self.median_s), np.full(n, self.p90_s)
        return self.distance_median.predict(distance), self.distance_p90.predict(distance)

    def as_dict(self) -> dict[str, Any]:
        """Return the baselines as plain data (for model metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baselines:
        """Rebuild baselines saved by as_dict()."""
        return cls(data["median_s"], data["p90_s"], DistanceCurve(**data["distance_median"]),
                   DistanceCurve(**data["distance_p90"]))


def scored_frame(examples: pd.DataFrame, prediction: Prediction) -> pd.DataFrame:
    """Return the columns evaluation needs: actual, estimates and the breakdown keys."""
    return pd.DataFrame({
        "y": examples["attendance_seconds"].to_numpy(float),
        "median": prediction.median, "p90": prediction.p90,
        "month": examples["month"].to_numpy(), "station_code": examples["station_code"].to_numpy(),
        "pump_order": examples["pump_order"].fillna(0).astype(int).to_numpy(),
        "distance_m": examples["distance_m"].to_numpy(float) if "distance_m" in examples else np.nan,
        "hour": examples["hour"].to_numpy(float) if "hour" in examples else np.nan,
    })


def lift(model_mae: float, baseline_mae: float) -> float:
    """Return how much lower the model's MAE is than a baseline's, as a fraction of the baseline's."""
    return (baseline_mae - model_mae) / baseline_mae if baseline_mae else 0.0


def evaluation_report(scored: pd.DataFrame, baselines: Baselines, *, min_station_rows: int = 20) -> dict[str, Any]:
    """Return the full report: headline metrics, baselines on the same rows, lift, and breakdowns.

    Pump order is used only to break the report down, never as a feature.
    """
    head = _rounded(metrics(scored.y, scored["median"], scored.p90))
    report: dict[str, Any] = {**head, "baselines": {}, "lift": {}}
    for name in ("median", "distance"):
        med, p90 = baselines.predict(name, scored.distance_m.to_numpy(float))
        report["baselines"][name] = _rounded(metrics(scored.y, med, p90))
        report["lift"][f"vs_{name}"] = round(lift(head["mae"], report["baselines"][name]["mae"]), 4) \
            if head["n"] else None
    first = scored[scored.pump_order == 1]
    if len(first):
        med, _ = baselines.predict("distance", first.distance_m.to_numpy(float))
        first_metrics = _rounded(metrics(first.y, first["median"], first.p90))
        distance_mae = float(np.mean(np.abs(med - first.y)))
        report["first_pump"] = {**first_metrics, "distance_baseline_mae": round(distance_mae, 4),
                                "lift_vs_distance": round(lift(first_metrics["mae"], distance_mae), 4)}
    report["by_month"] = grouped_metrics(scored, "month")
    report["by_station"] = grouped_metrics(scored, "station_code", min_rows=min_station_rows)
    report["by_pump_order"] = grouped_metrics(scored, "pump_order")
    return report


def format_report(report: dict[str, Any], title: str = "") -> str:
    """Return the report as text for the terminal."""
    lines = [title] if title else []

    def row(label: str, m: dict[str, Any]) -> str:
        r2 = "-" if m.get("r2") is None else f"{m['r2']:.3f}"
        return (f"  {label:<22} {m['n']:>8,} {m['mae']:>7.1f} {m['rmse']:>7.1f} {r2:>6} {m['median_ae']:>7.1f} "
                f"{m['within_60s']:>7.1%} {m['over_360_accuracy']:>8.1%} {m['p90_coverage']:>8.1%}")

    lines.append(f"  {'':<22} {'rows':>8} {'MAE s':>7} {'RMSE':>7} {'R2':>6} {'MedAE':>7} {'±60 s':>7} "
                 f"{'>360 ok':>8} {'P90 cov':>8}")
    lines.append(row("model (median, P90)", report))
    for name, label in (("median", "baseline: train median"), ("distance", "baseline: distance")):
        lines.append(row(label, report["baselines"][name]))
    lifts = report["lift"]
    lines.append(f"  lift: {lifts['vs_distance']:+.1%} MAE vs the distance curve, "
                 f"{lifts['vs_median']:+.1%} vs the training median")
    if "first_pump" in report:
        fp = report["first_pump"]
        lines.append(f"  first pumps: MAE {fp['mae']:.1f} s vs distance curve {fp['distance_baseline_mae']:.1f} s "
                     f"({fp['lift_vs_distance']:+.1%}), P90 coverage {fp['p90_coverage']:.1%}")
    lines.append("  by month:    " + ", ".join(f"{m['month']} MAE {m['mae']:.1f} (n={m['n']:,})"
                                               for m in report["by_month"]))
    flag = report.get("flag") or {}
    if flag.get("flagged_share") is not None:
        flagged, unflagged = flag["late_share_flagged"], flag["late_share_unflagged"]
        shares = "-" if flagged is None else f"{flagged:.1%}", "-" if unflagged is None else f"{unflagged:.1%}"
        lines.append(f"  flag: {flag['flagged_share']:.1%} of estimates flagged; over a minute later than the "
                     f"median: flagged {shares[0]}, unflagged {shares[1]}")
    lines.append("  by pump order (reporting only): " + ", ".join(
        f"{m['pump_order'] or '?'}: MAE {m['mae']:.1f} (n={m['n']:,})" for m in report["by_pump_order"]))
    return "\n".join(lines)
