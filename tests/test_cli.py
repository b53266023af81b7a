"""The command line: every command has help, exit codes scripts can rely on."""
import json

import pytest

from lfb import jobs
from lfb.cli import EXIT_FAILED, EXIT_OFFLINE, EXIT_OK, build_parser, main
from tests.builders import MOBILISATION_HEADER, mobilisation_row, write_csv

COMMANDS = ["setup", "demo", "ingest", "fetch", "status", "calibration", "clear-demo", "bench-ingest"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert "usage: python -m lfb " + command in capsys.readouterr().out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as done:
        main(["ingest"])
    assert done.value.code == 2
    assert set(COMMANDS) <= set(build_parser()._subparsers._group_actions[0].choices)


def test_ingest_exit_codes_and_status(settings, tmp_path, capsys):
    good = write_csv(tmp_path / "m.csv", [mobilisation_row()], MOBILISATION_HEADER)
    bad = tmp_path / "notes.csv"
    bad.write_text("hello,world\n1,2\n")
    assert main(["--no-progress", "ingest", str(good)]) == EXIT_OK
    assert main(["--no-progress", "ingest", str(bad), str(good)]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "failed  notes.csv" in out and "skipped  m.csv" in out
    assert main(["status", "--json"]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    assert status["mobilisations"] == 1 and status["ingests"][0]["status"] == "failed"
    assert (settings.data_dir / "lfb.db").exists()


def test_fetch_offline_exits_3_and_changes_nothing(settings, capsys):
    assert main(["--no-progress", "fetch"]) == EXIT_OFFLINE
    assert "nothing was changed" in capsys.readouterr().err
    assert not settings.downloads_dir.exists()


def test_setup_without_demo_creates_an_empty_store(settings, capsys):
    assert main(["setup", "--no-demo"]) == EXIT_OK
    assert "0 incidents" in capsys.readouterr().out


def test_small_demo_is_loaded_labelled_and_removed(settings, capsys):
    db = jobs.open_store(settings)
    reports = jobs.load_demo(db, settings, start="2024-01", months=2, incidents_per_year=3000, log=lambda _: None)
    assert reports and all(r.status == "ok" and r.is_demo and r.rows_rejected == 0 for r in reports)
    assert main(["status"]) == EXIT_OK
    assert "DEMO DATA" in capsys.readouterr().out
    assert main(["clear-demo"]) == EXIT_OK
    assert db.execute("SELECT COUNT(*) FROM incidents").fetchone() == (0,)
