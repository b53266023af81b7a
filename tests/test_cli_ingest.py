"""The ingest command on damaged input: one clear line, never a traceback."""
import zipfile

from lfb.cli import EXIT_FAILED, EXIT_OK, main
from lfb.service import jobs
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv


def _mobs(n):
    return [mobilisation_row(f"{i:06d}-01012023", str(i)) for i in range(n)]


def test_disk_full_says_the_disk_is_full(settings, tmp_path, capsys, monkeypatch):
    real_open = jobs.open_store

    def tiny_store(s):
        db = real_open(s)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 4}")  # the disk fills up a few pages later
        return db

    monkeypatch.setattr(jobs, "open_store", tiny_store)
    path = write_csv(tmp_path / "m.csv", _mobs(3000), MOBILISATION_HEADER)
    assert main(["--no-progress", "ingest", str(path)]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "no transaction is active" not in out + err
    assert out.strip().splitlines()[-1] == ("failed  m.csv: the disk is full (database or temp folder); free space "
                                            "and ingest the file again — nothing from this file was kept")


def test_zip_named_csv_is_one_line_saying_what_it_is(settings, tmp_path, capsys):
    inner = write_csv(tmp_path / "inner.csv", [incident_row()], INCIDENT_HEADER)
    with zipfile.ZipFile(tmp_path / "LFB.csv", "w") as zf:
        zf.write(inner, "inner.csv")
    assert main(["--no-progress", "ingest", str(tmp_path / "LFB.csv")]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert out.strip() == "failed  LFB.csv: the file is a ZIP archive, not a CSV: unzip it and ingest the CSV inside"


def test_cut_off_file_ingests_its_good_rows_and_reports_the_reject(settings, tmp_path, capsys):
    path = write_csv(tmp_path / "m.csv", _mobs(3), MOBILISATION_HEADER)
    path.write_bytes(path.read_bytes()[:-40])  # the download stopped in the middle of the last row
    fields = path.read_text().splitlines()[-1].count(",") + 1
    assert main(["--no-progress", "ingest", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "3 mobilisations rows read: 2 new, 0 updated, 1 rejected" in out
    assert main(["status"]) == EXIT_OK
    assert f"row has {fields} fields, the header has 22 (cut off or malformed)" in capsys.readouterr().out
