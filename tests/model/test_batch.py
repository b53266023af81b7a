"""predict-batch keeps every row, in order: a row that cannot be estimated keeps its place and says why."""
import pandas as pd
import pytest

from lfb.model.serving import Predictor, predict_batch
from tests.builders import INCIDENT_HEADER, incident_row, write_csv

WHEN = "2024-09-15 14:00"


@pytest.fixture(scope="module")
def predictor(trained):
    from lfb.data.store import connect

    settings, _ = trained
    return Predictor.from_registry(connect(settings.db_path), settings)


def _run(predictor, tmp_path, text: str) -> tuple[dict, pd.DataFrame]:
    """Write a requests CSV, estimate it, and return the summary and the output table (all text)."""
    source = tmp_path / "requests.csv"
    source.write_text(text, encoding="utf-8")
    result = predict_batch(predictor, source, tmp_path / "out.csv")
    return result, pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)


def test_incident_records_rejected_by_the_reader_keep_their_place(predictor, tmp_path):
    rows = [incident_row(f"{i:03d}", DateOfCall="2024-09-01" if i % 3 == 0 else "31/31/2024") for i in range(27)]
    source = write_csv(tmp_path / "in.csv", rows, INCIDENT_HEADER)
    result = predict_batch(predictor, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert result["rows"] == len(out) == 27 and result["estimated"] == 9
    assert out.incident_number.tolist() == [f"{i:03d}" for i in range(27)]
    assert (out.error[::3] == "").all() and (out.median_s[::3] != "").all()
    assert set(out.error.drop(index=range(0, 27, 3))) == {"DateOfCall: unreadable value"}
    assert (out.median_s.drop(index=range(0, 27, 3)) == "").all()


def test_a_ragged_row_is_a_row_error_and_shifts_nothing(predictor, tmp_path):
    result, out = _run(predictor, tmp_path, "station,location,time,incident_group\n"
                                            f"A21,W2,{WHEN},Fire\n"
                                            f"A21,W2,{WHEN},Fire,extra\n"
                                            "A21,W2\n"
                                            f'"Paddington","51.52, -0.19",{WHEN},Fire\n')
    assert result["rows"] == len(out) == 4 and result["estimated"] == 2
    assert out.error.tolist() == ["", "row has 5 fields but the header has 4: fix its commas or quotes",
                                  "row has 2 fields but the header has 4: fix its commas or quotes", ""]
    assert out.station.tolist() == ["A21", "A21", "A21", "Paddington"]
    assert out.location.tolist()[3] == "51.52, -0.19"


def test_home_station_reads_yes_and_no_and_names_the_column_otherwise(predictor, tmp_path):
    values = ["yes", "No", "TRUE", "false", "1", "0", "Y", "n", "", "maybe"]
    lines = "".join(f"A21,W2,{WHEN},Fire,{v}\n" for v in values)
    result, out = _run(predictor, tmp_path, "station,location,time,incident_group,home_station\n" + lines)
    assert result["estimated"] == 9 and out.error.tolist()[:9] == [""] * 9
    assert out.error.tolist()[9] == ("home_station 'maybe' is not yes or no (yes/no, y/n, true/false, 1/0; "
                                     "empty = unknown)")
    medians = out.median_s.tolist()
    assert medians[0] == medians[2] == medians[4] == medians[6] and medians[1] == medians[3] == medians[5]


def test_empty_optional_columns_are_missing_not_unseen(predictor, tmp_path):
    result, out = _run(predictor, tmp_path, "station,location,time,incident_group,stop_code,property_type\n"
                                            f"A21,W2,{WHEN},Fire,,\n"
                                            f"A21,W2,{WHEN},Fire,Spaceship,\n")
    assert result["estimated"] == 2 and "not seen in training" not in out.notes[0]
    assert out.notes[1].endswith("stop_code 'Spaceship' not seen in training: estimated without it")


def test_full_postcodes_are_looked_up_with_a_note(predictor, tmp_path):
    result, out = _run(predictor, tmp_path, "station,location,time,incident_group\n"
                                            f"A21,SE1 7PB,{WHEN},Fire\n"
                                            f"A21,se17pb,{WHEN},Fire\n"
                                            f"A21,SE1,{WHEN},Fire\n")
    assert result["estimated"] == 3 and out.median_s[0] == out.median_s[1]  # the postcode's own point, any spelling
    assert out.notes.fillna("").tolist()[:2] == ["", ""] and "SE1 is a whole postcode district" in out.notes[2]


def test_times_are_read_day_first_and_groups_and_stations_in_any_case(predictor, tmp_path):
    result, out = _run(predictor, tmp_path, "station,location,time,incident_group\n"
                                            "A21,W2,2024-08-01T14:30,Fire\n"
                                            "a21,W2,01/08/2024 14:30,fire\n"
                                            "PADDINGTON,W2,2024-08-01T13:30Z,FIRE\n"
                                            "A21,W2,08/01/2024 14:30,Fire\n")
    assert result["estimated"] == 4
    assert out.median_s.tolist()[0] == out.median_s.tolist()[1] == out.median_s.tolist()[2] != out.median_s.tolist()[3]


def test_every_row_keeps_its_place_with_all_its_errors(predictor, tmp_path):
    result, out = _run(predictor, tmp_path, "station,location,time,incident_group\n"
                                            f"A21,W2,{WHEN},Fire\n"
                                            "Atlantis,behind the bakery,yesterday,Alien landing\n"
                                            f",,,\n"
                                            f"A21,52.2,0.12,{WHEN},Fire\n"
                                            f"A21,\"52.2,0.12\",{WHEN},Fire\n"
                                            f"A21,W2,{WHEN},Fire\n")
    assert result["rows"] == len(out) == 6 and result["estimated"] == 2
    errors = out.error.tolist()
    assert errors[0] == errors[5] == ""
    assert errors[1].startswith("unknown station 'Atlantis'") and "cannot read location 'behind the bakery'" in \
        errors[1] and "cannot read time 'yesterday'" in errors[1] and "unknown incident group 'Alien landing'" in \
        errors[1]
    assert errors[2].startswith("no station given; no location given; no time given; no incident group")
    assert errors[3] == "row has 5 fields but the header has 4: fix its commas or quotes"
    assert errors[4].startswith("location '52.2,0.12' (52.20000, 0.12000) is not in Greater London")


def test_latitude_and_longitude_columns(predictor, tmp_path):
    result, out = _run(predictor, tmp_path, "station,latitude,longitude,time,incident_group\n"
                                            f"A21,51.52,-0.19,{WHEN},Fire\n"
                                            f"A21,,,{WHEN},Fire\n")
    assert result["estimated"] == 1 and out.error.tolist() == ["", "no location given"]


def test_a_bad_value_in_a_column_a_request_does_not_need_does_not_stop_the_estimate(predictor, tmp_path):
    rows = [incident_row("1", DateOfCall="2024-09-01", PumpCount="lots", NumCalls="?"),
            incident_row("2", DateOfCall="2024-09-01", TimeOfCall="25:99:00")]
    source = write_csv(tmp_path / "in.csv", rows, INCIDENT_HEADER)
    result = predict_batch(predictor, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert result["estimated"] == 1 and out.error.tolist() == ["", "TimeOfCall: unreadable value"]


def test_incident_records_in_a_workbook_keep_every_row(predictor, tmp_path):
    rows = [incident_row("1", DateOfCall="2024-09-01"), incident_row("2", DateOfCall="not a date"),
            incident_row("3", DateOfCall="2024-09-02")]
    pd.DataFrame(rows, columns=INCIDENT_HEADER).to_excel(tmp_path / "in.xlsx", index=False)
    result = predict_batch(predictor, tmp_path / "in.xlsx", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert result["rows"] == 3 and out.incident_number.tolist() == ["1", "2", "3"]
    assert out.error.tolist() == ["", "DateOfCall: unreadable value", ""]


def test_the_real_incident_sample_gives_one_output_row_per_input_row(predictor, shared_data, tmp_path):
    source = shared_data / "incidents_2023_sample_jan_sep.csv"
    result = predict_batch(predictor, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    assert result["rows"] == len(out) == len(raw) == 7230
    assert out.incident_number.tolist() == raw.IncidentNumber.tolist()
    assert result["estimated"] > 6500 and set(out.error[out.median_s == ""]) <= {
        "no station (for incident records: no first pump arrived)"}
