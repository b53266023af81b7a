"""A dispatcher's request answered whole and logged: the library behind the estimate page."""
import pytest

from lfb.model.serving import Predictor
from lfb.service.estimates import AnswerError, DispatchRequest, answer, station_options, type_options
from lfb.service.predictions import recent_estimates

WHEN = "2024-09-16 14:30"


@pytest.fixture
def served(trained, tmp_path):
    """A predictor of the trained store, and settings whose service database is private to the test."""
    import dataclasses

    from lfb.data.store import connect

    settings, _ = trained
    mine = dataclasses.replace(settings, service_db_path=tmp_path / "service.db")
    return mine, Predictor.from_registry(connect(settings.db_path), settings)


def test_the_fastest_station_is_chosen_when_none_is_given(served):
    settings, predictor = served
    result = answer(settings, predictor, DispatchRequest("SE1 7PB", WHEN, "fire"), "ann")
    assert result.chosen.station_code == result.ranking[0].station_code == result.fastest_code
    assert result.sooner == [] and len(result.ranking) == 10 and len(result.profile) == 24
    assert [e.median_s for e in result.ranking] == sorted(e.median_s for e in result.ranking)
    logged = recent_estimates(settings, "ann")[0]
    assert logged["id"] == result.log_id and logged["incident_group"] == "fire"
    assert logged["details"]["p_late"] == result.chosen.p_late


def test_a_station_outside_the_nearest_ones_is_still_estimated(served):
    settings, predictor = served
    result = answer(settings, predictor, DispatchRequest("SE1 7PB", WHEN, "Fire", station="F35"), "ann")
    assert result.chosen.station_code == "F35" and "F35" not in [e.station_code for e in result.ranking]
    assert result.sooner and all(e.median_s < result.chosen.median_s for e in result.sooner)


@pytest.mark.parametrize(("request_", "message"), [
    (DispatchRequest("SE1 7PB", WHEN, "Fire", station="Q99"), "unknown station 'Q99'"),
    (DispatchRequest("Paris", WHEN, "Fire"), "cannot read location"),
    (DispatchRequest("48.85,2.35", WHEN, "Fire"), "not in Greater London"),
    (DispatchRequest("SE1 7PB", WHEN, "Chimney"), "unknown incident group"),
    (DispatchRequest("SE1 7PB", "31/12/2031 10:00", "Fire"), "after the data this model learned from"),
])
def test_bad_requests_are_refused_with_a_message_and_not_logged(served, request_, message):
    settings, predictor = served
    with pytest.raises(AnswerError, match=message):
        answer(settings, predictor, request_, "ann")
    assert recent_estimates(settings, "ann") == []


def test_the_form_offers_every_lfb_station_and_the_model_s_categories(served):
    _settings, predictor = served
    codes = [code for code, _label in station_options()]
    assert len(codes) == 102 and "A21" in codes and "(none)" not in type_options(predictor)["property_category"]
    assert set(type_options(predictor)["incident_group"]) == {"Fire", "False Alarm", "Special Service"}
