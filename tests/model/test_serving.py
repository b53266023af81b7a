"""Serving: estimates with clear errors or explicit fallbacks, station ranking, batches."""
import pandas as pd
import pytest

from lfb.geo.location import LocationError
from lfb.model.serving import Predictor, RequestError, predict_batch
from tests.builders import INCIDENT_HEADER, incident_row, write_csv


@pytest.fixture(scope="module")
def predictor(trained):
    from lfb.data.store import connect

    settings, _ = trained
    return Predictor.from_registry(connect(settings.db_path), settings)


WHEN = "2024-09-15 14:00"


def test_one_estimate(predictor):
    e = predictor.predict_one("Paddington", "51.5210,-0.1900", WHEN, "Fire", stop_code="Primary Fire",
                              property_category="Dwelling")
    assert e.station_code == "A21" and 30 < e.median_s < 1200 and e.p90_s >= e.median_s
    assert 0 <= e.p_over_360 <= 1 and e.distance_m < 1000 and e.demo and e.model_version == predictor.version
    far = predictor.predict_one("A21", "51.4500,-0.0500", WHEN, "Fire", stop_code="Primary Fire")
    assert far.median_s > e.median_s


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"station": "Atlantis"}, RequestError, "unknown station"),
    ({"location": "52.2,0.12"}, LocationError, "not in Greater London"),
    ({"when": "2031-01-01 10:00"}, RequestError, r"time 2031-01-01 10:00 is 6\.3 years after the data this model "
                                                 r"learned from \(2024-01-01 to 2024-08-31\): train a model on newer "
                                                 r"data, or give a time between 2023-01-01 and 2026-08-31"),
    ({"when": "2021-06-01 10:00"}, RequestError, r"time 2021-06-01 10:00 is 2\.6 years before the data"),
    ({"when": "yesterday-ish"}, RequestError, "cannot read time"),
    ({"incident_group": "Alien landing"}, RequestError, "unknown incident group"),
])
def test_bad_requests_get_clear_errors(predictor, kwargs, error, message):
    args = {"station": "A21", "location": "W2", "when": WHEN, "incident_group": "Fire"} | kwargs
    with pytest.raises(error, match=message):
        predictor.predict_one(args["station"], args["location"], args["when"], args["incident_group"])


def test_unknown_type_details_fall_back_explicitly(predictor):
    e = predictor.predict_one("A21", "W2", WHEN, "Fire", property_type="Spaceship hangar")
    assert any("was not seen in training" in n for n in e.notes)
    assert any("W2 is a whole postcode district" in n for n in e.notes)


def test_rank_stations_orders_by_estimate(predictor):
    ranked = predictor.rank_stations("51.5210,-0.1900", WHEN, "False Alarm", nearest=6)
    assert len(ranked) == 6 and len({e.station_code for e in ranked}) == 6
    medians = [e.median_s for e in ranked]
    assert medians == sorted(medians)
    assert len(predictor.rank_stations("W2", WHEN, "Fire", nearest=0)) == 102


def test_batch_of_incident_records_marks_bad_rows(predictor, tmp_path):
    rows = [incident_row("1", DateOfCall="2024-09-01"),
            incident_row("2", DateOfCall="2024-09-01", FirstPumpArriving_DeployedFromStation="",
                         FirstPumpArriving_AttendanceTime=""),
            incident_row("3", DateOfCall="2024-09-01", Easting_rounded="450000", Northing_rounded="200000"),
            incident_row("4", DateOfCall="2030-09-01")]
    source = write_csv(tmp_path / "in.csv", rows, INCIDENT_HEADER)
    result = predict_batch(predictor, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype={"incident_number": str})
    assert result == result | {"rows": 4, "estimated": 1, "errors": 3}
    assert out.loc[0, "median_s"] > 0 and pd.isna(out.loc[0, "error"])
    assert out.error.tolist()[1:] == ["no station (for incident records: no first pump arrived)",
                                      "location not in Greater London",
                                      "time 2030-09-01 10:15 is 6.0 years after the data this model learned "
                                      "from (2024-01-01 to 2024-08-31): train a model on newer data, or give a "
                                      "time between 2023-01-01 and 2026-08-31"]


def test_batch_of_plain_requests(predictor, tmp_path):
    source = tmp_path / "requests.csv"
    pd.DataFrame({"station": ["A21", "Euston", "Nowhere"], "location": ["W2", "51.53,-0.13", "W2"],
                  "time": [WHEN] * 3, "incident_group": ["Fire", "False Alarm", "Fire"]}).to_csv(source, index=False)
    result = predict_batch(predictor, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert (result["estimated"], result["errors"]) == (2, 1)
    assert out.error.fillna("").tolist() == ["", "", "unknown station 'Nowhere': give one of the 108 station codes "
                                                     "or names (e.g. A21 or Paddington)"]


def test_batch_refuses_a_mobilisation_file(predictor, tmp_path):
    from tests.builders import MOBILISATION_HEADER, mobilisation_row

    source = write_csv(tmp_path / "m.csv", [mobilisation_row()], MOBILISATION_HEADER)
    with pytest.raises(RequestError, match="not mobilisation records"):
        predict_batch(predictor, source, tmp_path / "out.csv")


def test_the_time_window_is_whole_days(predictor):
    assert predictor.predict_one("A21", "W2", "01/01/2023 00:01", "Fire").median_s > 0
    assert predictor.predict_one("A21", "W2", "31/08/2026 23:59", "Fire").median_s > 0
    for outside in ("31/12/2022 23:59", "01/09/2026 00:00"):
        with pytest.raises(RequestError, match="the data this model learned from"):
            predictor.predict_one("A21", "W2", outside, "Fire")
