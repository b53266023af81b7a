"""London's coverage from the model in service, and what changes when a station is unavailable."""
import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lfb.data.reference import holiday_flags, london_cells, stations
from lfb.data.store import connect
from lfb.model import coverage as cov
from lfb.model.estimator import TARGET_S
from lfb.model.features import nearest_stations, stations_by_distance
from lfb.model.serving import Predictor, RequestError


@pytest.fixture(scope="module")
def predictor(trained) -> Predictor:
    settings, _ = trained
    db = connect(settings.db_path)
    try:
        return Predictor.from_registry(db, settings)
    finally:
        db.close()


@pytest.fixture(scope="module")
def base(predictor) -> cov.Coverage:
    cov.clear_cache()
    return cov.coverage(predictor, 17, 2, "Fire")


def test_every_london_cell_gets_its_fastest_candidate(base):
    cells = base.cells
    assert len(cells) == len(london_cells()) and base.candidates.shape == (len(cells), cov.DEFAULT_STATIONS)
    assert np.all(cells["median_s"].to_numpy()[:, None] <= base.medians)  # never slower than any single one
    picked = base.candidates[np.arange(len(cells)), base.medians.argmin(axis=1)]
    assert (cells["station_code"].to_numpy() == picked).all()
    assert cells["median_s"].between(30, 1200).all() and (cells["p90_s"] >= cells["median_s"]).all()


def test_candidates_are_the_nearest_lfb_stations(base):
    cells = base.cells
    for i in (0, 500, 1500):
        order = stations_by_distance(cells["latitude"][i], cells["longitude"][i])
        assert base.candidates[i].tolist() == order[: cov.DEFAULT_STATIONS].tolist()
    assert set(np.unique(base.candidates)) <= set(stations().query("is_lfb == 1").index)


def test_cells_are_taken_at_their_centre(base):
    from lfb.data.reference import cell_keys

    keys = cell_keys(base.cells["latitude"].to_numpy(), base.cells["longitude"].to_numpy())
    expected = list(zip(base.cells["easting"] // 1000, base.cells["northing"] // 1000))
    assert keys == expected  # each centre lies in its own cell


def test_the_batch_gives_what_serving_gives_for_one_request(predictor, base):
    i, j = 700, 2
    cell = base.cells.iloc[i]
    one = predictor.predict_one(base.candidates[i, j], f"{cell.latitude},{cell.longitude}", base.when, "Fire",
                                home_station=True)
    assert one.median_s == pytest.approx(base.medians[i, j]) and one.p90_s == pytest.approx(base.p90s[i, j])


def test_cells_over_six_minutes_are_marked_and_counted(base):
    cells = base.cells
    over = cells["median_s"] > TARGET_S
    assert (cells["over_target"] == over).all() and 0 < over.sum() < len(cells)
    s = base.summary
    assert (s.cells, s.cells_over) == (len(cells), int(over.sum()))
    assert s.share_cells_over == pytest.approx(over.mean())
    assert s.share_incidents_over == pytest.approx(cells.loc[over, "incidents"].sum() / cells["incidents"].sum())


def test_a_representative_day_is_an_ordinary_day_of_that_weekday(base, predictor):
    assert base.when.weekday() == 2 and base.when.hour == 17 and base.weekday == 2 and base.hour == 17
    assert base.when <= predictor.time_range[1]
    bank, school = holiday_flags(pd.DatetimeIndex([base.when]))
    assert not bank[0] and not school[0]
    christmas = cov.representative_day(pd.Timestamp("2024-12-27 12:00"), 2)  # school holiday until the new year
    assert christmas.weekday() == 2 and christmas < dt.date(2024, 12, 20)


def test_removing_a_station_never_makes_a_cell_faster(predictor, base):
    busiest = base.cells["station_code"].value_counts().index[:3]
    for code in busiest:
        change = cov.what_if(predictor, code, 17, 2, "Fire")
        cells = change.cells
        assert (cells["change_s"] >= 0).all() and (cells["station_code"] != code).all()
        slower = cells["change_s"] > 0
        assert slower.any() and (cells.loc[slower, "before_station"] == code).all()
        s = change.summary
        assert s.cells_slower == slower.sum() and s.cells_changed == (base.cells["station_code"] == code).sum()
        assert s.largest_increase_s == pytest.approx(cells["change_s"].max())
        assert s.mean_increase_s == pytest.approx(cells.loc[slower, "change_s"].mean())
        newly = cells["over_target"] & ~base.cells["over_target"]
        assert (cells["newly_over"] == newly).all() and s.cells_newly_over == newly.sum()
        assert s.share_incidents_over_after >= s.share_incidents_over_before


def test_removing_a_station_that_is_no_cells_fastest_changes_nothing(base):
    code = base.cells["station_code"].value_counts().index[0]
    keep = (base.cells["station_code"] != code).to_numpy()  # the cells this station is not the fastest for
    part = dataclasses.replace(base, cells=base.cells[keep].reset_index(drop=True), candidates=base.candidates[keep],
                               medians=base.medians[keep], p90s=base.p90s[keep])
    assert (part.candidates == code).any()  # still a candidate of some of these cells
    change = cov.without_station(part, code)
    assert change.summary.cells_slower == 0 and change.summary.cells_newly_over == 0
    assert change.summary.cells_changed == 0 and change.summary.largest_increase_s == 0
    assert (change.cells["median_s"] == part.cells["median_s"]).all()
    assert (change.cells["station_code"] == part.cells["station_code"]).all()


def test_results_are_cached_per_model_hour_weekday_group_and_station(predictor, base):
    assert cov.coverage(predictor, 17, 2, "Fire") is base
    other = cov.coverage(predictor, 3, 2, "Fire")
    assert other is not base and other.when.hour == 3
    assert cov.coverage(predictor, 17, 6, "Fire") is not base
    code = base.cells["station_code"].iloc[0]
    first = cov.what_if(predictor, code, 17, 2, "Fire")
    assert cov.what_if(predictor, code.lower(), 17, 2, "Fire") is first and first.base is base
    cov.clear_cache()
    assert cov.coverage(predictor, 17, 2, "Fire") is not base


def test_night_and_day_estimates_differ(predictor, base):
    night = cov.coverage(predictor, 3, 2, "Fire")
    assert not np.allclose(night.medians, base.medians)


def test_requests_the_model_cannot_answer_are_refused(predictor):
    with pytest.raises(RequestError, match="unknown incident group"):
        cov.coverage(predictor, 17, 2, "Flood")
    with pytest.raises(RequestError, match="hour"):
        cov.coverage(predictor, 24, 2)
    with pytest.raises(RequestError, match="weekday"):
        cov.coverage(predictor, 12, 7)
    with pytest.raises(RequestError, match="unknown LFB station"):
        cov.what_if(predictor, "Z99", 17, 2)


def test_nearest_stations_match_the_single_point_order():
    lat, lon = np.array([51.52, 51.40]), np.array([-0.18, 0.05])
    got = nearest_stations(lat, lon, 4)
    assert got.shape == (2, 4)
    for i in range(2):
        assert got[i].tolist() == stations_by_distance(lat[i], lon[i])[:4].tolist()
