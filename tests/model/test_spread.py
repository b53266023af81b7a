"""A place known only to its postcode district is estimated over the district's postcodes, not at one point."""
import numpy as np
import pytest

from lfb.geo.location import parse_location
from lfb.model.estimator import probability_over
from lfb.model.serving import Predictor
from lfb.model.spread import district_points, mixture, mixture_quantile

WHEN = "2024-09-15 14:00"


@pytest.fixture(scope="module")
def predictor(trained):
    from lfb.data.store import connect

    settings, _ = trained
    return Predictor.from_registry(connect(settings.db_path), settings)


def test_a_mixture_of_one_estimate_is_that_estimate():
    median, p90 = np.array([300.0] * 4), np.array([420.0] * 4)
    m = mixture(median, p90, late_s=60)
    assert m.median_s == pytest.approx(300, abs=0.5) and m.p90_s == pytest.approx(420, abs=0.5)
    assert m.p_over_360 == pytest.approx(probability_over(360.0, median, p90)[0])
    assert m.p_late == pytest.approx(probability_over(360.0, median, p90)[0])  # late = over median + 60 = 360


def test_a_mixture_of_near_and_far_places_is_wider_than_either():
    median, p90 = np.array([240.0, 480.0]), np.array([320.0, 640.0])
    middle, upper = mixture_quantile(0.5, median, p90), mixture_quantile(0.9, median, p90)
    assert 240 < middle < 480 and 320 < upper < 640
    assert upper - middle > max(p90 - median)  # wider than either place alone


def test_district_points_are_live_postcodes_of_the_district():
    from lfb.geo.postcodes import postcode_table

    lat, lon = district_points("SE1")
    table = postcode_table()
    live = table[(table.district == "SE1") & table.in_use]
    assert len(lat) == 48 and set(zip(lat, lon)) <= set(zip(live.latitude, live.longitude))
    assert len(district_points("BF1")[0]) == 0  # a district with no London postcode


def test_a_district_estimate_is_no_narrower_than_at_its_centre(predictor):
    district = parse_location("SE1")
    centre = predictor.predict_one("A21", f"{district.latitude},{district.longitude}", WHEN, "Fire")
    whole = predictor.predict_one("A21", "SE1", WHEN, "Fire")
    assert whole.p90_s >= centre.p90_s
    assert any("estimated over 48 postcodes spread through SE1" in n for n in whole.notes)
    assert not any("spread through" in n for n in centre.notes)


def test_a_full_postcode_is_estimated_at_its_point(predictor):
    from lfb.geo.postcodes import lookup_postcode

    hit = lookup_postcode("SE1 7PB")
    by_postcode = predictor.predict_one("A21", "SE1 7PB", WHEN, "Fire")
    by_point = predictor.predict_one("A21", f"{hit.latitude},{hit.longitude}", WHEN, "Fire")
    assert (by_postcode.median_s, by_postcode.p90_s) == (by_point.median_s, by_point.p90_s)


def test_ranking_a_district_widens_every_station(predictor):
    district = parse_location("W2")
    at_centre = {e.station_code: e for e in predictor.rank_stations(f"{district.latitude},{district.longitude}", WHEN,
                                                                    "Fire", nearest=5)}
    ranked = predictor.rank_stations("W2", WHEN, "Fire", nearest=5)
    assert [e.median_s for e in ranked] == sorted(e.median_s for e in ranked)
    assert all(e.p90_s >= at_centre[e.station_code].p90_s for e in ranked)


def test_the_day_profile_has_every_hour_and_matches_single_estimates(predictor):
    profile = predictor.day_profile("A21", "SE1 7PB", WHEN, "Fire")
    assert profile.hour.tolist() == list(range(24)) and (profile.p90_s >= profile.median_s).all()
    at_two = predictor.predict_one("A21", "SE1 7PB", "2024-09-15 14:00", "Fire")
    assert (profile.median_s[14], profile.p90_s[14]) == (at_two.median_s, at_two.p90_s)
    district = predictor.day_profile("A21", "SE1", WHEN, "Fire")
    assert district.median_s[14] == predictor.predict_one("A21", "SE1", "2024-09-15 14:00", "Fire").median_s
