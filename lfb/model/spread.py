"""Estimates for a place known only roughly: the arrival over every likely point, not at one guessed point.

A postcode district's centre can be kilometres from the address. Rather than estimate at the centre and
pretend it is the address, the model estimates at a sample of the district's live postcodes and the answer
is the mixture of those estimates: each a log-normal through its median and P90 (as P(>360 s) is), all
equally likely. Its median is the typical arrival anywhere in the district; its P90 holds the distance
uncertainty as well as the model's own, so it is never narrower than the estimate at the centre.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lfb.model.estimator import Z90, probability_over

SAMPLE_POINTS = 48  # postcodes of the district estimated (evenly spread through the sorted list)
MIN_POINTS = 5  # with fewer live postcodes, the district centre is estimated alone


@dataclass(frozen=True)
class Mixture:
    """The arrival over a sample of places: median, P90, and the chances that matter to a dispatcher."""

    median_s: float
    p90_s: float
    p_over_360: float
    p_late: float  # chance of arriving more than `late_s` after the mixture's median
    points: int


@lru_cache(maxsize=512)
def district_points(district: str, n: int = SAMPLE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Return latitudes and longitudes of up to `n` live postcodes spread through a district (empty if none)."""
    from lfb.geo.postcodes import postcode_table

    table = postcode_table()
    live = table[(table["district"] == district) & table["in_use"]].sort_index()
    if live.empty:
        return np.array([]), np.array([])
    pick = np.unique(np.linspace(0, len(live) - 1, min(n, len(live))).round().astype(int))
    return live["latitude"].to_numpy(float)[pick], live["longitude"].to_numpy(float)[pick]


def _sigma(median: np.ndarray, p90: np.ndarray) -> np.ndarray:
    """Return the log-normal spread through each median and P90 (as the estimator computes it)."""
    return np.maximum(np.log(np.maximum(p90, median + 1) / np.maximum(median, 1)) / Z90, 0.02)


def mixture_quantile(q: float, median: np.ndarray, p90: np.ndarray) -> float:
    """Return the q-quantile of an equal mixture of log-normals given by their medians and P90s (bisection)."""
    from scipy.special import ndtr

    mu, sigma = np.log(np.maximum(median, 1)), _sigma(median, p90)
    low, high = float(np.min(mu - 6 * sigma)), float(np.max(mu + 6 * sigma))
    for _ in range(60):
        mid = (low + high) / 2
        if float(np.mean(ndtr((mid - mu) / sigma))) < q:
            low = mid
        else:
            high = mid
    return float(np.exp((low + high) / 2))


def mixture(median: np.ndarray, p90: np.ndarray, late_s: float, target_s: float = 360.0) -> Mixture:
    """Return the mixture of the estimates at every sampled place."""
    median, p90 = np.asarray(median, float), np.asarray(p90, float)
    middle = mixture_quantile(0.5, median, p90)
    upper = mixture_quantile(0.9, median, p90)
    return Mixture(middle, upper, float(np.mean(probability_over(target_s, median, p90))),
                   float(np.mean(probability_over(middle + late_s, median, p90))), len(median))
