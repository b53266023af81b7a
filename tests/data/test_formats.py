"""Published formats: header matching, kind detection, value parsing."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lfb.data import formats
from lfb.data.formats import FormatError, detect_kind
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER


def test_detects_both_kinds():
    assert detect_kind(INCIDENT_HEADER) == "incidents"
    assert detect_kind(MOBILISATION_HEADER) == "mobilisations"


def test_header_matching_ignores_case_spaces_bom_and_misdecoded_pound():
    headers = ["\ufeffincidentnumber", "Notional Cost (Â£)", " Date Of Call "]
    found = formats.match_columns(headers, "incidents")
    assert found["incident_number"] == 0 and found["notional_cost"] == 1 and found["date_of_call"] == 2


def test_pump_hours_variant_maps_to_its_own_column():
    found = formats.match_columns(["PumpHoursRoundUp"], "incidents")
    assert found == {"pump_hours": 0}


def test_unknown_file_names_missing_columns():
    with pytest.raises(FormatError) as err:
        detect_kind(["station_code", "IncidentNumber", "DateOfCall"])
    text = str(err.value)
    assert "TimeOfCall" in text and "ResourceMobilisationId" in text
    assert "DateOfCall" not in text.split("as mobilisation")[0]  # present, so not reported missing


def test_parse_datetime_accepts_every_published_style():
    cells = pd.Series(["01/01/2009 00:02:27", "2023-03-19 10:00:00", "", "NULL", "junk",
                       dt.datetime(2020, 1, 1, 5, 6, 7), 44927.5], dtype=object)
    values, bad = formats.parse_datetime(cells)
    assert values[0] == pd.Timestamp("2009-01-01 00:02:27")
    assert values[1] == pd.Timestamp("2023-03-19 10:00:00")
    assert pd.isna(values[2]) and pd.isna(values[3])
    assert values[5] == pd.Timestamp("2020-01-01 05:06:07")
    assert values[6] == pd.Timestamp("2023-01-01 12:00:00")  # Excel serial number
    assert bad.tolist() == [False, False, False, False, True, False, False]


def test_parse_date_formats_of_each_publication_year():
    values, bad = formats.parse_date(pd.Series(["2023-03-19", "01 Jan 2009", "01-Jan-20", "19/03/2023", "x"]))
    assert [v.date() if not pd.isna(v) else None for v in values] == [
        dt.date(2023, 3, 19), dt.date(2009, 1, 1), dt.date(2020, 1, 1), dt.date(2023, 3, 19), None]
    assert bad.tolist() == [False, False, False, False, True]


def test_parse_time_text_objects_and_day_fractions():
    cells = pd.Series(["14:11:51", "9:05", "25:00", "", dt.time(3, 4, 5), 0.5], dtype=object)
    values, bad = formats.parse_time(cells)
    assert values[0] == pd.Timedelta("14:11:51") and values[1] == pd.Timedelta("09:05:00")
    assert values[4] == pd.Timedelta("03:04:05") and values[5] == pd.Timedelta("12:00:00")
    assert bad.tolist() == [False, False, True, False, False, False]


def test_parse_float_empties_null_and_garbage():
    values, bad = formats.parse_float(pd.Series(["1.5", "", "NULL", "abc", "1,234", " 7 "]))
    assert values[0] == 1.5 and np.isnan(values[1]) and np.isnan(values[2]) and values[4] == 1234 and values[5] == 7
    assert bad.tolist() == [False, False, False, True, False, False]


def test_parse_id_and_text():
    assert formats.parse_id(pd.Series(["235138081.0", "000001-01012020", ""])).tolist() == [
        "235138081", "000001-01012020", None]
    assert formats.parse_text(pd.Series(["Car ", " x", "NULL"])).tolist() == ["Car", "x", None]
