"""Raw rows to canonical records: values, derived attendances, rejects."""
import json

import pandas as pd

from lfb.data.records import parse_incidents, parse_mobilisations
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row


def _frame(rows, header):
    return pd.DataFrame([[r[h] for h in header] for r in rows], columns=header, dtype=str)


def test_incident_values_are_normalised():
    parsed = parse_incidents(_frame([incident_row(Latitude="0", Longitude="0", Easting_m="")], INCIDENT_HEADER), 2)
    rec = parsed.records.iloc[0]
    assert rec.call_datetime == "2023-01-01 10:15:00" and rec.month == "2023-01"
    assert rec.property_type == "House - single occupancy"  # trailing space of published files removed
    assert pd.isna(rec.latitude) and pd.isna(rec.longitude) and pd.isna(rec.easting_m)  # 0 means unknown
    assert rec.notional_cost == 388 and rec.is_demo == 0


def test_first_and_second_pump_rows_are_derived():
    parsed = parse_incidents(_frame([incident_row(), incident_row("2", SecondPumpArriving_AttendanceTime="",
                                                                  SecondPumpArriving_DeployedFromStation="")],
                                    INCIDENT_HEADER), 2)
    d = parsed.derived.sort_values(["incident_number", "pump_order"])
    assert d[["incident_number", "mobilisation_id", "pump_order", "station_code", "attendance_seconds"]] \
        .values.tolist() == [["000001-01012023", "derived-1", 1, "A21", 300.0],
                             ["000001-01012023", "derived-2", 2, "A23", 420.0],
                             ["2", "derived-1", 1, "A21", 300.0]]
    assert (d.derived == 1).all() and (d.mobilised_at == "2023-01-01 10:15:00").all()


def test_bad_incident_rows_are_rejected_with_reasons_and_raw_row():
    rows = [incident_row(), incident_row("", DateOfCall="2023-01-02"), incident_row("3", DateOfCall="31/31/2023"),
            incident_row("4", FirstPumpArriving_AttendanceTime="fast"), incident_row("5", TimeOfCall="99:00")]
    parsed = parse_incidents(_frame(rows, INCIDENT_HEADER), 2)
    assert len(parsed.records) == 1
    reasons = {line: reason for line, reason, _ in parsed.rejects}
    assert reasons == {3: "IncidentNumber: missing", 4: "DateOfCall: unreadable value",
                       5: "FirstPumpArriving_AttendanceTime: unreadable value", 6: "TimeOfCall: unreadable value"}
    raw = json.loads(parsed.rejects[2][2])
    assert raw["FirstPumpArriving_AttendanceTime"] == "fast" and raw["IncidentNumber"] == "4"


def test_mobilisation_rejects_and_demo_marker():
    rows = [mobilisation_row("1-DEMO", "1"), mobilisation_row("2", ""), mobilisation_row("3", "3",
            DateAndTimeMobilised=""), mobilisation_row("4", "4", AttendanceTimeSeconds="-5"),
            mobilisation_row("5", "5", AttendanceTimeSeconds="NULL", DeployedFromStation_Code="a21")]
    parsed = parse_mobilisations(_frame(rows, MOBILISATION_HEADER), 2)
    assert parsed.records.incident_number.tolist() == ["1-DEMO", "5"]
    assert parsed.records.is_demo.tolist() == [1, 0]
    assert pd.isna(parsed.records.attendance_seconds[1]) and parsed.records.station_code[1] == "A21"
    assert [r[1] for r in parsed.rejects] == ["ResourceMobilisationId: missing", "DateAndTimeMobilised: missing",
                                              "AttendanceTimeSeconds: out of range"]
