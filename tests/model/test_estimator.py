"""The model: curve plus CatBoost quantiles; save/load; plain-list and pool paths agree."""
import numpy as np
import pandas as pd
import pytest

from lfb.model.estimator import ModelSettings, ResponseModel, probability_over


def test_probability_over_target_follows_the_estimates():
    p = probability_over(360, np.array([200.0, 360.0, 500.0]), np.array([300.0, 480.0, 700.0]))
    assert p[0] < 0.05 and p[1] == pytest.approx(0.5) and p[2] == pytest.approx(0.8946, abs=1e-3)


def test_small_data_averages_several_models():
    assert ModelSettings().models_for(5_000) == 3 and ModelSettings().models_for(500_000) == 1
    assert ModelSettings(ensemble=2).models_for(5_000) == 2


def test_saved_model_loads_and_predicts_the_same(trained, tmp_path):
    from lfb.model.registry import load_version

    settings, result = trained
    model, _ = load_version(settings.models_dir, result.version)
    model.save(tmp_path / "copy")
    again = ResponseModel.load(tmp_path / "copy")
    rng = np.random.default_rng(3)
    table = _features(rng, 50)
    a, b = model.predict(table), again.predict(table)
    np.testing.assert_allclose(a.median, b.median)
    assert np.all(a.p90 >= a.median) and np.all((a.p_over_target >= 0) & (a.p_over_target <= 1))


def test_plain_lists_and_pool_give_the_same_estimates(trained):
    from lfb.model.registry import load_version

    settings, result = trained
    model, _ = load_version(settings.models_dir, result.version)
    table = _features(np.random.default_rng(5), 20)
    as_pool = model.predict(table)
    as_lists = model.predict({c: table[c].tolist() for c in table.columns})
    np.testing.assert_allclose(as_pool.median, as_lists.median, rtol=1e-6)
    np.testing.assert_allclose(as_pool.p90, as_lists.p90, rtol=1e-6)


def test_training_is_deterministic_with_a_seed():
    rng = np.random.default_rng(1)
    table = _features(rng, 600)
    y = 100 + table.distance_m.to_numpy() * 0.1 + rng.normal(0, 20, 600)
    settings = ModelSettings(max_iterations=30, learning_rate=0.3, ensemble=1, threads=1)
    a = ResponseModel.fit(table[:400], y[:400], table[400:], y[400:], settings)
    b = ResponseModel.fit(table[:400], y[:400], table[400:], y[400:], settings)
    np.testing.assert_array_equal(a.predict(table).median, b.predict(table).median)


def _features(rng, n):
    from lfb.model.features import build_features

    return build_features(pd.DataFrame({
        "station_code": rng.choice(["A21", "A23", "H31", "G26"], n), "latitude": rng.uniform(51.40, 51.58, n),
        "longitude": rng.uniform(-0.30, 0.0, n),
        "when": pd.Timestamp("2024-05-01") + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h"),
        "home_station": np.ones(n), "borough": ["CAMDEN"] * n, "postcode_district": ["NW1"] * n,
        "incident_group": rng.choice(["Fire", "False Alarm"], n), "stop_code": ["AFA"] * n,
        "special_service_type": [None] * n, "property_category": ["Dwelling"] * n, "property_type": ["House"] * n,
        "address_qualifier": [None] * n}))
