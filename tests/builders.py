"""Builders of small record files in the published LFB formats, for tests."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lfb.data.formats import INCIDENT_COLUMNS, MOBILISATION_COLUMNS

INCIDENT_HEADER = [c.headers[0] for c in INCIDENT_COLUMNS]
INCIDENT_HEADER[INCIDENT_HEADER.index("PumpHoursRoundUp")] = "PumpMinutesRounded"
INCIDENT_HEADER.remove("PumpMinutesRounded")  # published files carry one of the two pump-time columns
MOBILISATION_HEADER = [c.headers[0] for c in MOBILISATION_COLUMNS]


def incident_row(number: str = "000001-01012023", **overrides: Any) -> dict[str, Any]:
    """Return one valid incident record in the published format."""
    row = dict.fromkeys(INCIDENT_HEADER, "")
    row.update({
        "IncidentNumber": number, "DateOfCall": "2023-01-01", "CalYear": "2023", "TimeOfCall": "10:15:00",
        "HourOfCall": "10", "IncidentGroup": "Fire", "StopCodeDescription": "Primary Fire",
        "PropertyCategory": "Dwelling", "PropertyType": "House - single occupancy ", "Postcode_district": "W2",
        "IncGeo_BoroughName": "WESTMINSTER", "Easting_rounded": "526150", "Northing_rounded": "181650",
        "FRS": "London", "IncidentStationGround": "Paddington", "FirstPumpArriving_AttendanceTime": "300",
        "FirstPumpArriving_DeployedFromStation": "Paddington", "SecondPumpArriving_AttendanceTime": "420",
        "SecondPumpArriving_DeployedFromStation": "Euston", "NumPumpsAttending": "2", "PumpCount": "2",
        "PumpMinutesRounded": "60", "Notional Cost (£)": "388", "NumCalls": "1",
    })
    row.update(overrides)
    return row


def mobilisation_row(number: str = "000001-01012023", mob_id: str = "1000", **overrides: Any) -> dict[str, Any]:
    """Return one valid mobilisation record in the published format."""
    row = dict.fromkeys(MOBILISATION_HEADER, "")
    row.update({
        "IncidentNumber": number, "CalYear": "2023", "HourOfCall": "10", "ResourceMobilisationId": mob_id,
        "Resource_Code": "A211", "PerformanceReporting": "1", "DateAndTimeMobilised": "01/01/2023 10:16:00",
        "DateAndTimeMobile": "01/01/2023 10:17:10", "DateAndTimeArrived": "01/01/2023 10:21:00",
        "TurnoutTimeSeconds": "70", "TravelTimeSeconds": "230", "AttendanceTimeSeconds": "300",
        "DeployedFromStation_Code": "A21", "DeployedFromStation_Name": "Paddington",
        "DeployedFromLocation": "Home Station", "PumpOrder": "1", "PlusCode_Code": "Initial",
        "PlusCode_Description": "Initial Mobilisation",
    })
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] | None = None,
              encoding: str = "utf-8") -> Path:
    """Write rows (dicts) to a CSV file with the given or inferred header."""
    header = header or list(rows[0])
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# Model settings that train in a second or two: for tests of behaviour, not of accuracy.
FAST_MODEL = dict(max_iterations=80, learning_rate=0.3, early_stopping_rounds=20, ensemble=1, threads=1)


def big_mobilisation_file(path, rows):
    """Write `rows` valid mobilisation records quickly (one template line, numbered)."""
    import csv
    import io

    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=MOBILISATION_HEADER).writerow(mobilisation_row("{n}-01012023", "{m}"))
    template = buffer.getvalue()
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(MOBILISATION_HEADER) + "\r\n")
        fh.writelines(template.replace("{n}", str(100000 + i)).replace("{m}", str(i)) for i in range(rows))
    return path
