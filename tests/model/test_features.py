"""Features: only what is known at dispatch time, built the same way for training and serving."""
import numpy as np
import pandas as pd
import pytest

from lfb.model.features import (CATEGORICAL_FEATURES, FEATURES, POST_EVENT_FIELDS, REQUEST_COLUMNS, build_features,
                          feature_arrays, incident_location)
from lfb.data.formats import INCIDENT_COLUMNS, MOBILISATION_COLUMNS
from lfb.data.store import INCIDENT_COLUMNS as STORED_INCIDENT, MOBILISATION_COLUMNS as STORED_MOBILISATION

# Everything a record holds that is only written after the pump was sent: it must never reach the model.
LEAKS = {"delay_code_id", "delay_code_description", "pump_order", "num_pumps_attending", "num_stations_with_pumps",
         "pump_count", "pump_minutes", "pump_hours", "notional_cost", "num_calls", "turnout_seconds",
         "travel_seconds", "attendance_seconds", "mobile_at", "arrived_at", "left_at", "returned_at",
         "first_pump_seconds", "first_pump_station", "second_pump_seconds", "second_pump_station"}


def _requests(n=3):
    return pd.DataFrame({
        "station_code": ["A21", "a23", "H31"][:n], "latitude": [51.5210, 51.5300, 51.3700][:n],
        "longitude": [-0.1830, -0.1300, -0.1000][:n],
        "when": pd.to_datetime(["2023-12-25 08:00", "2024-03-06 17:30", "2024-08-10 03:15"][:n]),
        "home_station": [1.0, 0.0, np.nan][:n], "borough": ["WESTMINSTER", None, "CROYDON"][:n],
        "postcode_district": ["W2", "NW1", None][:n], "incident_group": ["Fire", "False Alarm", "Special Service"][:n],
        "stop_code": ["Primary Fire", "AFA", "Special Service"][:n], "special_service_type": [None, None, "RTC"][:n],
        "property_category": ["Dwelling", "Non Residential", "Road Vehicle"][:n],
        "property_type": ["House", "Office", "Car"][:n], "address_qualifier": [None] * n,
    })


def test_allow_list_holds_no_post_event_field():
    assert not (set(FEATURES) | set(REQUEST_COLUMNS)) & (LEAKS | POST_EVENT_FIELDS)
    assert LEAKS <= POST_EVENT_FIELDS


def test_every_stored_or_published_column_is_either_allowed_or_known_post_event():
    """A new column cannot slip in unnoticed: it must be classified before anyone can use it."""
    allowed_inputs = {"incident_number", "mobilisation_id", "month", "cal_year", "hour_of_call", "call_datetime",
                      "mobilised_at", "station_code", "station_name", "deployed_from_location", "incident_group",
                      "stop_code", "special_service_type", "property_category", "property_type",
                      "address_qualifier", "postcode_full", "postcode_district", "uprn", "usrn", "borough_code",
                      "borough_name", "proper_case", "ward_code", "ward_name", "ward_name_new", "easting_m",
                      "northing_m", "easting_rounded", "northing_rounded", "latitude", "longitude", "frs",
                      "station_ground", "is_demo", "ingest_id", "derived", "date_of_call", "time_of_call"}
    columns = set(STORED_INCIDENT) | set(STORED_MOBILISATION) | {c.name for c in INCIDENT_COLUMNS} | \
        {c.name for c in MOBILISATION_COLUMNS}
    unclassified = columns - allowed_inputs - POST_EVENT_FIELDS
    assert not unclassified


def test_post_event_values_cannot_change_the_features():
    requests = _requests()
    leaky = requests.assign(**{name: np.random.default_rng(0).uniform(0, 1000, len(requests)) for name in LEAKS})
    other = leaky.assign(**{name: -1.0 for name in LEAKS})
    a, b = build_features(leaky), build_features(other)
    assert list(a.columns) == list(FEATURES)
    pd.testing.assert_frame_equal(a, b)


def test_trained_model_sees_only_allowed_features(trained):
    from lfb.model.registry import load_version

    settings, result = trained
    model, metadata = load_version(settings.models_dir, result.version)
    assert model.features == list(FEATURES) == metadata["features"]
    for booster in model.boosters:
        assert set(booster.feature_names_) == set(FEATURES)


def test_geometry_and_calendar_features():
    f = build_features(_requests())
    assert f.distance_m[0] < 150 and f.distance_rank[0] == 1 and f.own_ground[0] == 1  # next to Paddington
    assert f.station_code.tolist() == ["A21", "A23", "H31"]
    assert f.bank_holiday.tolist() == [1.0, 0.0, 0.0] and f.school_holiday.tolist() == [1.0, 0.0, 1.0]
    assert f.hour.tolist() == [8.0, 17.0, 3.0] and f.weekday.tolist() == [0.0, 2.0, 5.0]
    assert f.home_station[2] != f.home_station[2]  # unknown stays unknown (NaN)
    assert f.borough[1] == "(none)" and f.special_service_type[2] == "RTC"
    assert 0.8 < f.station_speed_prior.min() and f.station_speed_prior.max() < 1.3


def test_arrays_and_table_agree():
    requests = _requests()
    arrays = feature_arrays({k: requests[k].tolist() for k in REQUEST_COLUMNS})
    table = build_features(requests)
    for name in FEATURES:
        if name in CATEGORICAL_FEATURES:
            assert list(arrays[name]) == table[name].tolist()
        else:
            np.testing.assert_allclose(arrays[name], table[name].to_numpy(float), equal_nan=True)


def test_missing_request_column_is_an_error():
    with pytest.raises(KeyError, match="station_code"):
        build_features(_requests().drop(columns="station_code"))


def test_incident_location_prefers_published_then_exact_then_rounded_grid():
    frame = pd.DataFrame({"latitude": [51.5, np.nan, np.nan], "longitude": [-0.1, np.nan, np.nan],
                          "easting_m": [np.nan, 530000.0, np.nan], "northing_m": [np.nan, 180000.0, np.nan],
                          "easting_rounded": [1.0, 1.0, 530050.0], "northing_rounded": [1.0, 1.0, 180050.0]})
    lat, lon = incident_location(frame)
    assert (lat[0], lon[0]) == (51.5, -0.1)
    assert lat[1] == pytest.approx(51.50399, abs=1e-5) and lat[2] > lat[1]


def test_station_ranks_are_the_same_whatever_the_block_size(monkeypatch):
    import numpy as np

    from lfb.model import features

    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(51.35, 51.65, 50), rng.uniform(-0.4, 0.2, 50)
    codes = rng.choice(features._lfb_station_arrays()[0], 50)
    whole = features.geometry(codes, lat, lon)
    monkeypatch.setattr(features, "RANK_BLOCK_ROWS", 7)
    blocked = features.geometry(codes, lat, lon)
    for name in ("distance_rank", "nearest_distance_m"):
        assert np.array_equal(whole[name], blocked[name])
    order = [features.stations_by_distance(a, b).tolist() for a, b in zip(lat, lon)]
    assert blocked["distance_rank"].tolist() == [o.index(c) + 1.0 for o, c in zip(order, codes)]


def test_ground_station_agrees_with_the_reference_cells():
    import numpy as np

    from lfb.data.reference import cell_keys, cells_by_key, station_codes_by_name
    from lfb.model.features import ground_station

    rng = np.random.default_rng(5)
    lat, lon = rng.uniform(51.2, 51.8, 400), rng.uniform(-0.7, 0.5, 400)  # some outside London
    cells, codes = cells_by_key(), station_codes_by_name()
    expected = [codes.get(cells[k].station_ground.lower(), "") if k in cells and cells[k].station_ground else ""
                for k in cell_keys(lat, lon)]
    assert ground_station(lat, lon).tolist() == expected and "" in expected and len(set(expected)) > 20
