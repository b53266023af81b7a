"""The response-time model: a distance curve plus CatBoost quantiles (median and P90) of what remains."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool
from scipy.special import ndtr

from lfb.model.features import CATEGORICAL_FEATURES, FEATURES

TARGET_S = 360.0  # the LFB target for the first pump: an average of six minutes
QUANTILES = (0.5, 0.9)
Z90 = 1.2815515655446004  # standard normal quantile of 0.9
SMALL_BATCH = 2_000  # up to this many rows, predict from plain lists
SMALL_DATA_ROWS = 100_000  # under this many training rows, average several models (measured: less variance)


@dataclass
class ModelSettings:
    """How a model is trained. Chosen by measurement (see README, 'Model settings')."""

    depth: int = 6
    learning_rate: float = 0.05
    max_iterations: int = 3000
    early_stopping_rounds: int = 100
    one_hot_max_size: int = 255  # one-hot every low-cardinality category: 3x faster than CatBoost's CTRs here
    l2_leaf_reg: float = 3.0
    seed: int = 2024
    threads: int = 2
    ensemble: int = 0  # models averaged; 0 = automatic (3 under SMALL_DATA_ROWS training rows, else 1)

    def models_for(self, rows: int) -> int:
        """Return how many models to average for a training set of `rows`."""
        return self.ensemble or (3 if rows < SMALL_DATA_ROWS else 1)


@dataclass
class DistanceCurve:
    """A monotone curve of a quantile of attendance time against straight-line distance."""

    distances: list[float]
    seconds: list[float]

    @classmethod
    def fit(cls, distance: np.ndarray, seconds: np.ndarray, quantile: float = 0.5, bins: int = 30) -> DistanceCurve:
        """Fit the curve: the quantile per distance bin, made non-decreasing."""
        edges = np.unique(np.quantile(distance, np.linspace(0, 1, bins + 1)))
        idx = np.clip(np.searchsorted(edges, distance) - 1, 0, max(len(edges) - 2, 0))
        groups = pd.DataFrame({"d": distance, "t": seconds, "b": idx}).groupby("b")
        mids = groups.d.median().to_numpy()
        values = groups.t.quantile(quantile).to_numpy()
        from sklearn.isotonic import IsotonicRegression  # only when fitting: importing sklearn costs ~1 s

        smooth = IsotonicRegression().fit_transform(mids, values) if len(mids) > 1 else values
        return cls([float(v) for v in mids], [float(v) for v in smooth])

    def predict(self, distance: np.ndarray) -> np.ndarray:
        """Return the curve's seconds at each distance (flat beyond its ends)."""
        return np.interp(np.asarray(distance, float), self.distances, self.seconds)


@dataclass
class Prediction:
    """Estimates for a batch of requests."""

    median: np.ndarray
    p90: np.ndarray
    p_over_target: np.ndarray

    def frame(self) -> pd.DataFrame:
        """Return the estimates as a table."""
        return pd.DataFrame({"median_s": self.median, "p90_s": self.p90, "p_over_360": self.p_over_target})


def probability_over(threshold: float | np.ndarray, median: np.ndarray, p90: np.ndarray) -> np.ndarray:
    """Return P(time > threshold) for a log-normal with the given median and 90th percentile."""
    sigma = np.maximum(np.log(np.maximum(p90, median + 1) / np.maximum(median, 1)) / Z90, 0.02)
    return 1.0 - ndtr((np.log(np.maximum(threshold, 1)) - np.log(np.maximum(median, 1))) / sigma)


@dataclass
class ResponseModel:
    """A trained model: the curve, the averaged boosters, and the P90 calibration shift."""

    features: list[str]
    categorical: list[str]
    curve: DistanceCurve
    boosters: list[CatBoostRegressor]
    p90_shift: float = 0.0
    iterations: int = 0
    settings: ModelSettings = field(default_factory=ModelSettings)
    train_seconds: float = 0.0
    # Estimates on the validation window by the model before it saw that window (set by fit, never saved)
    holdout: Prediction | None = field(default=None, repr=False, compare=False)

    def _pool(self, X: pd.DataFrame, y: np.ndarray | None = None) -> Pool:
        """Return a CatBoost pool of the model's features."""
        return Pool(X[self.features], label=y, cat_features=self.categorical)

    def _raw(self, X: Mapping[str, Any]) -> np.ndarray:
        """Return the averaged booster outputs (residual quantiles over the curve), one column per quantile."""
        n = len(np.asarray(X["distance_m"]))
        if n <= SMALL_BATCH and not isinstance(X, pd.DataFrame):  # plain rows: much faster than a Pool for a few
            data: Any = [list(row) for row in zip(*(np.asarray(X[f]).tolist() for f in self.features))]
            threads = 1
        else:
            data = self._pool(X if isinstance(X, pd.DataFrame) else pd.DataFrame({f: X[f] for f in self.features}))
            threads = self.settings.threads
        return np.mean([np.atleast_2d(b.predict(data, thread_count=threads)) for b in self.boosters], axis=0)

    def predict(self, X: Mapping[str, Any]) -> Prediction:
        """Return median, P90 and probability of arriving after 360 s for each feature row."""
        base = self.curve.predict(np.asarray(X["distance_m"], dtype=float))
        raw = self._raw(X)
        median = np.clip(base + raw[:, 0], 1.0, None)
        p90 = np.maximum(base + raw[:, 1] + self.p90_shift, median)
        return Prediction(median, p90, probability_over(TARGET_S, median, p90))

    @classmethod
    def fit(cls, train: pd.DataFrame, y_train: np.ndarray, valid: pd.DataFrame, y_valid: np.ndarray,
            settings: ModelSettings, *, refit: bool = True, log=lambda _msg: None) -> ResponseModel:
        """Train with early stopping on the (later) validation window, calibrate P90 on it, then refit on both."""
        started = time.perf_counter()
        features, categorical = list(FEATURES), list(CATEGORICAL_FEATURES)
        curve = DistanceCurve.fit(train["distance_m"].to_numpy(float), y_train)
        count = settings.models_for(len(train))
        params = dict(loss_function=f"MultiQuantile:alpha={','.join(map(str, QUANTILES))}", depth=settings.depth,
                      learning_rate=settings.learning_rate, one_hot_max_size=settings.one_hot_max_size,
                      l2_leaf_reg=settings.l2_leaf_reg, thread_count=settings.threads, verbose=0,
                      allow_writing_files=False)
        model = cls(features, categorical, curve, [], settings=settings)
        off_train = curve.predict(train["distance_m"].to_numpy(float))
        off_valid = curve.predict(valid["distance_m"].to_numpy(float))
        first = []
        for i in range(count):
            log(f"fitting model {i + 1}/{count} with early stopping on {len(valid):,} validation rows ...")
            booster = CatBoostRegressor(iterations=settings.max_iterations, random_seed=settings.seed + i, **params)
            booster.fit(model._pool(train, y_train - off_train), eval_set=model._pool(valid, y_valid - off_valid),
                        early_stopping_rounds=settings.early_stopping_rounds)
            first.append(booster)
        model.boosters = first
        model.iterations = max(int(np.mean([b.get_best_iteration() + 1 for b in first])), 10)
        shifted = model.predict(valid)
        model.p90_shift = float(np.quantile(y_valid - shifted.p90, 0.9)) + 0.0
        model.holdout = model.predict(valid)
        if refit:
            both = pd.concat([train, valid], ignore_index=True)
            y_both = np.concatenate([y_train, y_valid])
            iterations = int(model.iterations * (1 + len(valid) / max(len(train), 1)))
            off_both = curve.predict(both["distance_m"].to_numpy(float))
            model.boosters = []
            for i in range(count):
                log(f"refitting model {i + 1}/{count} on {len(both):,} rows, {iterations} trees ...")
                booster = CatBoostRegressor(iterations=iterations, random_seed=settings.seed + i, **params)
                booster.fit(model._pool(both, y_both - off_both))
                model.boosters.append(booster)
            model.iterations = iterations
        model.train_seconds = time.perf_counter() - started
        return model

    def refit_on(self, data: pd.DataFrame, y: np.ndarray, log=lambda _msg: None) -> ResponseModel:
        """Return a copy trained the same way (same settings, trees, curve refitted) on other data."""
        curve = DistanceCurve.fit(data["distance_m"].to_numpy(float), y)
        started = time.perf_counter()
        clone = ResponseModel(self.features, self.categorical, curve, [], self.p90_shift, self.iterations,
                              self.settings)
        offset = curve.predict(data["distance_m"].to_numpy(float))
        for i, old in enumerate(self.boosters):
            log(f"refitting served model {i + 1}/{len(self.boosters)} on {len(data):,} rows ...")
            params = {k: v for k, v in old.get_params().items() if k not in ("iterations", "random_seed")}
            booster = CatBoostRegressor(iterations=self.iterations, random_seed=self.settings.seed + i, **params)
            booster.fit(clone._pool(data, y - offset))
            clone.boosters.append(booster)
        clone.train_seconds = time.perf_counter() - started
        return clone

    def save(self, folder: Path) -> dict[str, str]:
        """Write the booster files (.cbm) and the model description; return file name -> role."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, booster in enumerate(self.boosters):
            name = f"model-{i}.cbm"
            booster.save_model(str(folder / name), format="cbm")
            files[name] = "booster"
        spec = {"features": self.features, "categorical": self.categorical, "curve": asdict(self.curve),
                "p90_shift": self.p90_shift, "iterations": self.iterations, "settings": asdict(self.settings),
                "boosters": sorted(files), "train_seconds": self.train_seconds}
        (folder / "model.json").write_text(json.dumps(spec, indent=2))
        files["model.json"] = "spec"
        return files

    @classmethod
    def load(cls, folder: Path) -> ResponseModel:
        """Read a model written by save()."""
        spec = json.loads((folder / "model.json").read_text())
        boosters = []
        for name in spec["boosters"]:
            booster = CatBoostRegressor()
            booster.load_model(str(folder / name), format="cbm")
            boosters.append(booster)
        return cls(spec["features"], spec["categorical"], DistanceCurve(**spec["curve"]), boosters,
                   spec["p90_shift"], spec["iterations"], ModelSettings(**spec["settings"]), spec["train_seconds"])
