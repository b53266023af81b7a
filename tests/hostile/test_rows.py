"""0 rows lost: files whose cells hold the hostile values go through whole. `predict-batch` writes one output row per
input row, in order, each estimated or saying why not; an ingest accounts for every row read (inserted, updated or
rejected with its reason kept) and loses no stored row.
"""
from __future__ import annotations

import contextlib
import csv
import sqlite3
from pathlib import Path

from lfb.config import Settings
from lfb.data.ingest import ingest_file
from lfb.service import jobs
from tests.builders import INCIDENT_HEADER, incident_row, write_csv
from tests.hostile.conftest import counts, run_cli, tally
from tests.hostile.values import LOCATIONS, STATIONS, TEXTS, TIMES

GOOD = {"station": "A21", "location": "SE1 7PB", "time": "01/09/2024 10:00", "incident_group": "Fire"}
TABLES = {"station": STATIONS, "location": LOCATIONS, "time": TIMES, "incident_group": TEXTS}
ESTIMATED = {"good-0", "location-swapped-latlon"}  # the swapped pair is read, with a note
WORDS = {"station": "station", "location": ("location", "postcode"), "time": "time", "incident_group": "incident group"}


def _requests(path: Path) -> list[dict[str, str]]:
    """Write a requests CSV with one row per hostile value of each column (the others valid); return its rows."""
    rows = [GOOD | {"ref": "good-0"}]
    for column, table in TABLES.items():
        rows += [GOOD | {column: value, "ref": f"{column}-{name}"} for name, value in table]
    rows.append({"ref": "blank", "station": "", "location": "", "time": "", "incident_group": ""})
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["ref", *GOOD])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_predict_batch_writes_one_row_per_input_row_each_estimated_or_saying_why(store: Settings,
                                                                                  tmp_path: Path) -> None:
    rows = _requests(tmp_path / "requests.csv")
    run = run_cli(["predict-batch", str(tmp_path / "requests.csv"), str(tmp_path / "out.csv")])
    assert run.code == 0 and "Traceback" not in run.out + run.err, run.err
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as fh:
        out = list(csv.DictReader(fh))
    lost = len(rows) - len(out)
    for i, _ in enumerate(rows):
        tally("rows predict-batch (cells)", lost=lost if i == 0 else 0)
    assert lost == 0 and [r["ref"] for r in out] == [r["ref"] for r in rows]  # every row, in order
    for given, got in zip(rows, out):
        column = given["ref"].split("-", 1)[0] if given["ref"] not in ("good-0", "blank") else None
        if got["error"]:
            assert not got["median_s"], got
            words = WORDS.get(column, ("station",))
            words = (words,) if isinstance(words, str) else words
            assert any(w in got["error"] for w in words), (given["ref"], got["error"])
            assert len(got["error"]) < 600, given["ref"]
        else:
            assert float(got["median_s"]) > 0, got
    estimated = {r["ref"] for r in out if not r["error"]}
    assert estimated == ESTIMATED, estimated


# Hostile cells in an incident file: (column, values)
INCIDENT_CELLS = {
    "IncidentNumber": ["", "   ", "<script>alert(1)</script>", "A" * 10_000],
    "DateOfCall": ["", "1900-01-01", "2999-12-31", "31/02/2024", "yesterday"],
    "TimeOfCall": ["", "25:00:00", "noon"],
    "IncidentGroup": ["", "**bold** [x](javascript:alert(1))", "🚒"],
    "Easting_rounded": ["", "-5", "nan", "inf", "1e400"],
    "Northing_rounded": ["abc", "51.5"],
    "IncidentStationGround": ["<b>Nowhere</b>", ""],
    "FirstPumpArriving_AttendanceTime": ["-300", "nan", "99999999999999999999", "five"],
}


def test_an_ingest_accounts_for_every_row_and_loses_no_stored_row(store: Settings, tmp_path: Path) -> None:
    base = {"DateOfCall": "2024-09-01", "CalYear": "2024"}
    rows = [incident_row(f"{800000 + i:06d}-01092024", **(base | {column: value}))
            for i, (column, value) in enumerate((c, v) for c, values in INCIDENT_CELLS.items() for v in values)]
    path = write_csv(tmp_path / "hostile-incidents.csv", rows, INCIDENT_HEADER)
    before = counts(store)
    db = jobs.open_store(store)
    try:
        report = ingest_file(db, path)
    finally:
        db.close()
    after = counts(store)
    for i, _ in enumerate(rows):
        tally("rows ingest (cells)", lost=before.lost(after) if i == 0 else 0)
    assert report.status == "ok", report.message
    assert report.rows_read == len(rows)
    assert report.rows_inserted + report.rows_updated + report.rows_rejected == report.rows_read, report
    assert after.incidents == before.incidents + report.rows_inserted and before.lost(after) == 0
    with contextlib.closing(sqlite3.connect(store.db_path)) as con:
        kept = con.execute("SELECT COUNT(*), SUM(reason = '' OR reason IS NULL) FROM rejects WHERE ingest_id = ?",
                           [report.ingest_id]).fetchone()
    assert kept[0] == report.rows_rejected and not kept[1]  # every rejected row kept, with its reason


MOBILISATION_CELLS = {
    "DateAndTimeMobilised": ["", "01/01/2999 10:16:00", "01/01/1500 10:16:00", "31/02/2024 10:16:00", "soon"],
    "DateAndTimeArrived": ["01/09/2024 09:00:00", "<script>"],  # arrived before mobilised; markup
    "AttendanceTimeSeconds": ["-1", "nan", "1e400", "**bold**"],
    "DeployedFromStation_Code": ["", "Z9<b>", "A" * 10_000],
    "ResourceMobilisationId": ["", "x"],
}


def test_a_mobilisation_ingest_accounts_for_every_row(store: Settings, tmp_path: Path) -> None:
    from tests.builders import MOBILISATION_HEADER, mobilisation_row

    cells = [(c, v) for c, values in MOBILISATION_CELLS.items() for v in values]
    rows = [mobilisation_row(f"{700000 + i:06d}-01092024", str(990000 + i), **{
        "CalYear": "2024", "DateAndTimeMobilised": "01/09/2024 10:16:00", "DateAndTimeMobile": "01/09/2024 10:17:10",
        "DateAndTimeArrived": "01/09/2024 10:21:00"} | {column: value}) for i, (column, value) in enumerate(cells)]
    path = write_csv(tmp_path / "hostile-mobilisations.csv", rows, MOBILISATION_HEADER)
    before = counts(store)
    db = jobs.open_store(store)
    try:
        report = ingest_file(db, path)
    finally:
        db.close()
    after = counts(store)
    for i, _ in enumerate(rows):
        tally("rows ingest (cells)", lost=before.lost(after) if i == 0 else 0)
    assert report.status == "ok", report.message
    assert report.rows_read == len(rows) and report.rows_rejected >= 1
    assert report.rows_inserted + report.rows_updated + report.rows_rejected == report.rows_read, report
    assert before.lost(after) == 0
