"""Updates keep derived rows true: re-ingesting an incident rewrites its derived pump attendances."""
from lfb.data.ingest import ingest_file
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv

NO_SECOND = dict(SecondPumpArriving_AttendanceTime="", SecondPumpArriving_DeployedFromStation="")


def _derived(db, table="mobilisations"):
    return db.execute(f"SELECT incident_number, mobilisation_id, attendance_seconds FROM {table} "
                      "WHERE derived = 1 ORDER BY 1, 2").fetchall()


def test_second_pump_that_disappears_on_update_leaves_no_derived_row(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "a.csv", [incident_row("A"), incident_row("B")], INCIDENT_HEADER))
    assert len(_derived(db)) == 4
    report = ingest_file(db, write_csv(tmp_path / "b.csv", [incident_row("A", FirstPumpArriving_AttendanceTime="310",
                                                                          **NO_SECOND)], INCIDENT_HEADER))
    assert (report.rows_updated, report.rows_derived) == (1, 1)
    expected = [("A", "derived-1", 310.0), ("B", "derived-1", 300.0), ("B", "derived-2", 420.0)]
    assert _derived(db) == expected
    assert _derived(db, "attendances") == expected


def test_an_incident_repeated_in_one_file_keeps_the_derived_rows_of_its_last_row(db, tmp_path):
    rows = [incident_row("A"), incident_row("A", **NO_SECOND)]
    ingest_file(db, write_csv(tmp_path / "a.csv", rows, INCIDENT_HEADER))
    assert _derived(db) == [("A", "derived-1", 300.0)]
    path = write_csv(tmp_path / "b.csv", [incident_row("A")] + [incident_row(f"X{i}") for i in range(5)]
                     + [incident_row("A", **NO_SECOND)], INCIDENT_HEADER)
    ingest_file(db, path, chunk_rows=3)  # the two rows of A fall in different chunks
    assert [r for r in _derived(db) if r[0] == "A"] == [("A", "derived-1", 300.0)]


def test_update_leaves_real_mobilisations_alone(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "m.csv", [mobilisation_row("A", "7")], MOBILISATION_HEADER))
    ingest_file(db, write_csv(tmp_path / "a.csv", [incident_row("A")], INCIDENT_HEADER))
    ingest_file(db, write_csv(tmp_path / "b.csv", [incident_row("A", **NO_SECOND)], INCIDENT_HEADER))
    rows = db.execute("SELECT mobilisation_id, derived FROM mobilisations ORDER BY 1").fetchall()
    assert rows == [("7", 0), ("derived-1", 1)]
