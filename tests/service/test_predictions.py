"""The prediction log keeps every estimate with who asked and which model answered."""
from lfb.service.predictions import LoggedEstimate, log_estimate, recent_estimates


def _entry(user, number=None, median=300.0):
    """Return a logged estimate for a user."""
    return LoggedEstimate(username=user, station_code="A21", location_text="SE1 7PB", call_time="2024-05-01 14:30",
                          incident_group="Fire", median_s=median, p90_s=median + 120, model_version="v1",
                          p_over_360=0.2, flag=True, flag_reason="long run", incident_number=number,
                          latitude=51.5, longitude=-0.1, precision="postcode", details={"stop_code": "AFA"},
                          is_demo=True)


def test_estimates_are_logged_and_listed_per_user_newest_first(settings):
    first = log_estimate(settings, _entry("ann", " 123-01052024 ", 300))
    log_estimate(settings, _entry("bob", None, 310))
    log_estimate(settings, _entry("ann", "", 320))
    mine = recent_estimates(settings, "ann")
    assert [e["median_s"] for e in mine] == [320, 300]
    assert mine[1]["id"] == first and mine[1]["incident_number"] == "123-01052024"  # trimmed, kept for matching
    assert mine[0]["incident_number"] is None  # blank means none
    assert mine[1]["details"] == {"stop_code": "AFA"} and mine[1]["flag"] is True and mine[1]["is_demo"] is True
    assert len(recent_estimates(settings)) == 3 and len(recent_estimates(settings, "ann", limit=1)) == 1


def test_logging_does_not_queue_behind_a_long_write_to_the_records_store(settings):
    import sqlite3

    from lfb.service.jobs import open_store

    open_store(settings).close()
    writer = sqlite3.connect(str(settings.db_path), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # an ingest in progress
    try:
        assert log_estimate(settings, _entry("ann")) > 0
    finally:
        writer.execute("ROLLBACK")
