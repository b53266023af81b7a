"""The command line: every command has help, exit codes scripts can rely on."""
import json

import pytest

from lfb.service import jobs
from lfb.cli import EXIT_FAILED, EXIT_OFFLINE, EXIT_OK, build_parser, main
from tests.builders import MOBILISATION_HEADER, mobilisation_row, write_csv

COMMANDS = ["setup", "demo", "ingest", "fetch", "status", "calibration", "clear-demo", "bench-ingest", "train",
            "evaluate", "predict", "predict-batch", "models", "backtest-refit", "bench-model"]


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


@pytest.fixture
def model_env(trained, monkeypatch):
    """Point the CLI at the shared trained store (read-only commands only)."""
    settings, result = trained
    monkeypatch.setenv("LFB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LFB_MODELS_DIR", str(settings.models_dir))
    return result


def test_models_list_and_show(model_env, capsys):
    assert main(["models", "list"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"* {model_env.version}") and "MAE" in out and "demo" in out
    assert main(["models", "show", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["version"] == model_env.version


def test_evaluate_json_has_plain_metric_keys(model_env, capsys):
    assert main(["evaluate", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    for key in ("mae", "rmse", "r2", "median_ae", "within_60s", "over_360_accuracy", "p90_coverage"):
        assert key in report and key in report["baselines"]["median"] and key in report["baselines"]["distance"]
    assert report["by_pump_order"]


def test_predict_and_its_errors(model_env, capsys):
    args = ["predict", "--location", "W2", "--time", "2024-09-01 10:00", "--incident-group", "Fire"]
    assert main(args + ["--station", "A21"]) == EXIT_OK
    assert "A21 Paddington" in capsys.readouterr().out
    assert main(args + ["--rank", "3", "--json"]) == EXIT_OK
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(args + ["--station", "Q99"]) == EXIT_FAILED
    assert "unknown station" in capsys.readouterr().err
    assert main(["predict", "--location", "Paris", "--incident-group", "Fire", "--station", "A21"]) == EXIT_FAILED
    assert "cannot read location" in capsys.readouterr().err


def test_model_commands_without_a_model(settings, capsys):
    assert main(["predict", "--location", "W2", "--incident-group", "Fire", "--station", "A21"]) == EXIT_FAILED
    assert "no model in service yet" in capsys.readouterr().err
    assert main(["models", "rollback"]) == EXIT_FAILED
    assert "nothing to roll back to" in capsys.readouterr().err
