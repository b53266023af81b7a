"""Benchmarks: the batch benchmark builds a realistic requests file and times both input kinds."""
import pandas as pd
import pytest

from lfb.bench import bench_batches, write_requests_csv
from lfb.cli import main
from tests.builders import INCIDENT_HEADER, incident_row, write_csv


def _incidents(tmp_path, n=40):
    rows = [incident_row(f"{i:06d}", DateOfCall=f"2024-09-{1 + i % 28:02d}", TimeOfCall=f"{i % 24:02d}:15:00")
            for i in range(n)]
    return write_csv(tmp_path / "incidents.csv", rows, INCIDENT_HEADER)


def test_requests_file_mixes_location_kinds_and_time_formats(tmp_path):
    n = write_requests_csv(_incidents(tmp_path), tmp_path / "requests.csv", bad_every=10)
    table = pd.read_csv(tmp_path / "requests.csv", dtype=str, keep_default_na=False)
    assert n == len(table) == 40
    assert {"station", "location", "time", "incident_group", "home_station"} <= set(table.columns)
    location = table.location
    assert location.str.fullmatch(r"W2").any() and location.str.fullmatch(r"W2 \d[A-Z]{2}").any()
    assert location.str.fullmatch(r"51\.\d+,-0\.\d+").any() and location.str.fullmatch(r"5\d{5},1\d{5}").any()
    assert table.time.str.fullmatch(r"\d\d/\d\d/2024 \d\d:\d\d").any()
    assert table.time.str.fullmatch(r"2024-\d\d-\d\dT\d\d:\d\d").any()
    assert (table.station == "Atlantis").sum() == 1 and (table.location == "behind the bakery").sum() == 1


def test_bench_batches_times_both_input_kinds(trained, tmp_path):
    from lfb.data.store import connect
    from lfb.model.serving import Predictor

    settings, _ = trained
    predictor = Predictor.from_registry(connect(settings.db_path), settings)
    result = bench_batches(predictor, _incidents(tmp_path), tmp_path, repeats=2)
    assert result["incidents"]["rows"] == result["requests"]["rows"] == 40
    assert result["requests"]["estimated"] > 30 and "rows/s" in result["summary"] and "best of 2" in result["summary"]
    assert len(result["requests"]["runs_rows_per_second"]) == 2


def test_bench_batch_has_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["bench-batch", "--help"])
    assert done.value.code == 0
    assert "usage: python -m lfb bench-batch" in capsys.readouterr().out
