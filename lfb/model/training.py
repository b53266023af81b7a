"""The training job: split in time, fit, evaluate honestly, find risks, register, and promote by the rule."""
from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import sqlite_utils

from lfb import __version__
from lfb.config import PROJECT_ROOT, Settings
from lfb.model.dataset import TARGET, Examples, load_examples
from lfb.model.evaluation import Baselines, evaluation_report, metrics, scored_frame
from lfb.model.features import CATEGORICAL_FEATURES, FEATURES, build_features
from lfb.service.locks import job_lock
from lfb.model.estimator import SMALL_DATA_ROWS, ModelSettings, ResponseModel
from lfb.model.registry import (ModelFileError, champion, clean_strays, load_registered, load_version,
                                new_version_id, register,
                                save_version)
from lfb.model.flag import fit_flag, held_out_figures
from lfb.model.risk import activate, find_risks, flag_usefulness
from lfb.model.split import Split, month_add, time_split

Log = Callable[[str], None]
COVERAGE_GOAL = 0.90
KEEP = ("incident_number", "mobilisation_id", "month", "station_code", "pump_order", "is_demo", "when")


@dataclass
class TrainResult:
    """What a training run produced and decided."""

    version: str
    metadata: dict[str, Any]
    promoted: bool


def default_model_settings(settings: Settings) -> ModelSettings:
    """Return the model settings a training uses unless told otherwise (threads, learning rate, iterations)."""
    return ModelSettings(threads=settings.model_threads, learning_rate=settings.model_learning_rate,
                         max_iterations=settings.model_max_iterations)


def feature_table(examples: Examples) -> pd.DataFrame:
    """Return the features of every example with the target and the columns used to split and report."""
    frame = examples.frame
    table = build_features(frame)
    for name in KEEP:
        table[f"_{name}" if name in table else name] = frame[name].to_numpy()
    table[TARGET] = frame[TARGET].to_numpy(float)
    return table


def code_version() -> str:
    """Return the git commit of the code (or the package version outside a checkout)."""
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def decide(settings: Settings, db: sqlite_utils.Database, candidate: ResponseModel, test: pd.DataFrame) -> dict:
    """Apply the promotion rule: the candidate and the champion are scored on the same newest months."""
    current = champion(db)
    if current is None:
        return {"promote": True, "text": "no champion yet: the first model goes into service"}
    try:
        champ_model, champ_meta = load_registered(db, settings.models_dir, current)
    except ModelFileError as exc:
        return {"promote": True, "champion": current, "text": f"the champion cannot serve ({exc}); promoted"}
    missing = [f for f in champ_model.features if f not in test]
    if missing:
        return {"promote": True, "champion": current,
                "text": f"the champion needs features this code no longer builds ({', '.join(missing)}); promoted"}
    fair = test[test["month"] > champ_meta["data_until"]]
    if fair.empty:
        return {"promote": False, "champion": current,
                "text": f"not promoted: no test month is newer than the champion's data (up to "
                        f"{champ_meta['data_until']}), so there is nothing fair to compare on"}
    y = fair[TARGET].to_numpy(float)
    cand = metrics(y, *_estimates(candidate, fair))
    champ = metrics(y, *_estimates(champ_model, fair))
    mae_ok = cand["mae"] <= champ["mae"] * (1 - settings.promote_margin)
    cov_gap = abs(cand["p90_coverage"] - COVERAGE_GOAL) - abs(champ["p90_coverage"] - COVERAGE_GOAL)
    cov_ok = cov_gap <= settings.coverage_tolerance
    months = sorted(fair["month"].unique())
    figures = (f"on {months[0]}..{months[-1]} ({len(fair):,} pumps): MAE {cand['mae']:.1f} s vs champion "
               f"{champ['mae']:.1f} s, P90 coverage {cand['p90_coverage']:.1%} vs {champ['p90_coverage']:.1%}")
    if mae_ok and cov_ok:
        text = f"promoted: {figures}"
    elif not mae_ok:
        text = (f"not promoted: MAE not lower by at least {settings.promote_margin:.0%} ({figures})")
    else:
        text = (f"not promoted: P90 coverage further from 90% by more than {settings.coverage_tolerance:.0%} "
                f"({figures})")
    return {"promote": bool(mae_ok and cov_ok), "champion": current, "window": [months[0], months[-1]],
            "rows": len(fair), "candidate": cand, "champion_metrics": champ, "margin": settings.promote_margin,
            "coverage_tolerance": settings.coverage_tolerance, "text": text}


def _estimates(model: ResponseModel, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return a model's median and P90 estimates on a feature table."""
    prediction = model.predict(table)
    return prediction.median, prediction.p90


def _categories(table: pd.DataFrame) -> dict[str, list[str]]:
    """Return the values seen in training for every categorical feature."""
    return {name: sorted(map(str, table[name].unique())) for name in CATEGORICAL_FEATURES}


def fit_and_evaluate(split: Split, model_settings: ModelSettings, log: Log, *, flag_share: float,
                     flag_driver_rows: int) -> tuple[ResponseModel, dict[str, Any]]:
    """Fit on the training and validation windows; return the model and its honest test-window figures.

    The flag's threshold and drivers come from the validation window, estimated by the model before it saw it.
    """
    y = lambda t: t[TARGET].to_numpy(float)  # noqa: E731
    # Small data: refit on training + validation (the validation month matters); large data: it adds ~3% rows
    # for the cost of a whole extra fit, so the early-stopped model is evaluated as it is.
    model = ResponseModel.fit(split.train, y(split.train), split.valid, y(split.valid), model_settings, log=log,
                              refit=len(split.train) < SMALL_DATA_ROWS)
    prediction = model.predict(split.test)
    scored = scored_frame(split.test, prediction)
    fitted = pd.concat([split.train, split.valid])
    baselines = Baselines.fit(fitted["distance_m"].to_numpy(float), y(fitted))
    report = evaluation_report(scored, baselines)
    usefulness = flag_usefulness(scored)
    risks = activate(find_risks(scored), usefulness)
    months = sorted(split.valid["month"].unique())
    window = f"validation {months[0]}" + (f"..{months[-1]}" if len(months) > 1 else "")
    flag_rule = fit_flag(split.valid, y(split.valid), model.holdout, share=flag_share, min_rows=flag_driver_rows,
                         window=window)
    report["flag"] = held_out_figures(flag_rule, risks, scored_frame(split.valid, model.holdout), scored)
    return model, {"evaluation": report, "baselines": baselines.as_dict(), "risks": risks,
                   "risk_usefulness": usefulness, "flag_rule": flag_rule}


def refit_backtest(db: sqlite_utils.Database, settings: Settings, *, test_months: int | None = None,
                   model_settings: ModelSettings | None = None, log: Log = print) -> dict[str, Any]:
    """Measure whether refitting on the newest months helps: score, on the last window, a model trained up to the
    window before (as refitted) against one trained a window earlier (as served without refit)."""
    n = test_months or settings.test_months
    model_settings = model_settings or default_model_settings(settings)
    table = feature_table(load_examples(db))
    last = table["month"].max()
    future = time_split(table, test_months=n, until=last)
    y = lambda t: t[TARGET].to_numpy(float)  # noqa: E731
    results = {}
    for label, back in (("refit", 1), ("no refit", 1 + n)):
        cutoff = month_add(future.windows.test_from, -back)
        train, valid = table[table["month"] < cutoff], table[table["month"] == cutoff]
        if train.empty or valid.empty:
            raise ValueError(f"not enough history for the backtest (needs data before {cutoff})")
        log(f"{label}: training on data up to {cutoff} ...")
        model = ResponseModel.fit(train, y(train), valid, y(valid), model_settings,
                                  refit=len(train) < SMALL_DATA_ROWS)
        results[label] = {"trained_until": cutoff, **metrics(y(future.test), *_estimates(model, future.test))}
    gain = results["no refit"]["mae"] - results["refit"]["mae"]
    return {"window": [future.windows.test_from, future.windows.test_until], "results": results,
            "mae_gain_s": round(gain, 2), "refit_helps": gain > 0}


def has_real_data(db: sqlite_utils.Database) -> bool:
    """Return True if the store holds real (not demo) incidents: training then leaves demo rows out."""
    return bool(db.execute("SELECT EXISTS(SELECT 1 FROM incidents WHERE is_demo = 0)").fetchone()[0])


def training_examples(db: sqlite_utils.Database, until: str | None = None) -> Examples:
    """Return the pump attendances a training up to `until` learns from (real ones only once there are any)."""
    return load_examples(db, until=until, demo=False if has_real_data(db) else None)


def train(db: sqlite_utils.Database, settings: Settings, *, until: str | None = None, test_months: int | None = None,
          who: str = "cli", model_settings: ModelSettings | None = None, log: Log = print,
          owner: str | None = None) -> TrainResult:
    """Train a candidate on stored data up to `until`, register it, and promote it if the rule says so.

    `who` is recorded in the promotions log; `owner` names the train lock's holder (default: `who`).
    """
    started = time.perf_counter()
    model_settings = model_settings or default_model_settings(settings)
    test_months = test_months or settings.test_months
    with job_lock(settings, "train", owner=owner or who) as lease:
        clean_strays(db, settings.models_dir, log=log)
        log("loading pump attendances" + (" (real data only: demo rows are left out)" if has_real_data(db)
                                          else " (DEMO data)"))
        examples = training_examples(db, until)
        table = feature_table(examples)
        split = time_split(table, test_months=test_months, until=until)
        w = split.windows
        log(f"train {w.train_from}..{w.train_until} ({len(split.train):,} pumps), validation "
            f"{w.valid_from}..{w.valid_until} ({len(split.valid):,}), test {w.test_from}..{w.test_until} "
            f"({len(split.test):,})")
        model, figures = fit_and_evaluate(split, model_settings, log, flag_share=settings.flag_share,
                                          flag_driver_rows=settings.flag_driver_rows)
        decision = decide(settings, db, model, split.test)
        served, refit = model, {"applied": False, "served_model_trained_until": w.valid_until}
        data_until = w.valid_until
        if settings.refit_on_all:
            everything = table[table["month"] <= w.test_until]
            served = model.refit_on(everything, everything[TARGET].to_numpy(float), log=log)
            data_until = w.test_until
            refit = {"applied": True, "served_model_trained_until": w.test_until, "rows": len(everything),
                     "evaluated_model_trained_until": w.valid_until,
                     "why": "measured: refitting with the newest months lowers MAE on later months (README)"}
        lease.check()
        version = new_version_id(settings.models_dir)
        metadata = {
            "version": version, "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "code_version": code_version(), "is_demo": bool(examples.frame["is_demo"].any()),
            "features": list(FEATURES), "categorical": list(CATEGORICAL_FEATURES),
            "categories": _categories(pd.concat([split.train, split.valid])),
            "time_range": [str(table["when"].min()), str(table["when"].max())],
            "windows": w.as_dict(), "data_until": data_until,
            "rows": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test),
                     "dropped": examples.dropped},
            "settings": asdict(model_settings), "iterations": model.iterations, "ensemble": len(model.boosters),
            "p90_shift_s": round(model.p90_shift, 2), "refit": refit, "data_fingerprint": examples.fingerprint(),
            **figures, "decision": decision,
        }
        metadata["train_seconds"] = round(time.perf_counter() - started, 1)
        path = save_version(settings.models_dir, version, served, metadata)
        metadata = load_version(settings.models_dir, version)[1]  # its files check out: it may serve at once
        # registered and, if the rule says so, promoted in one transaction: a kill cannot leave it half-way
        register(db, metadata, path, promote=(who, decision["text"]) if decision["promote"] else None)
        log(f"registered {version} in {path}")
        log(decision["text"])
        return TrainResult(version, metadata, decision["promote"])
