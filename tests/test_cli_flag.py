"""The underestimation flag on the command line: its figures in `evaluate`, its chance in `predict` and batches."""
import json

import pandas as pd
import pytest

from lfb.cli import EXIT_OK, main
from tests.builders import INCIDENT_HEADER, incident_row, write_csv

FLAG_KEYS = ("flagged_share", "late_share_flagged", "late_share_unflagged")


@pytest.fixture
def model_env(trained, monkeypatch):
    """Point the CLI at the shared trained store (read-only commands only)."""
    settings, result = trained
    monkeypatch.setenv("LFB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LFB_MODELS_DIR", str(settings.models_dir))
    return result


def _evaluate(capsys, *args):
    """Run `evaluate --json` with arguments; return its report."""
    assert main(["evaluate", "--json", *args]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_evaluate_reports_the_test_window_flag_figures_from_training(model_env, capsys):
    report = _evaluate(capsys)
    assert report["flag"] == model_env.metadata["evaluation"]["flag"]
    assert all(0 <= report["flag"][k] <= 1 for k in FLAG_KEYS)
    assert main(["evaluate"]) == EXIT_OK
    assert f"flag: {report['flag']['flagged_share']:.1%} of estimates flagged" in capsys.readouterr().out


def test_evaluate_since_and_on_a_file_measure_the_served_flag(model_env, capsys, tmp_path):
    since = _evaluate(capsys, "--since", "2024-07")
    assert since["flag"]["rows"] == since["n"] and all(since["flag"][k] is not None for k in FLAG_KEYS)
    assert since["flag"]["threshold"] == model_env.metadata["flag_rule"]["threshold"]
    rows = [incident_row(f"{i:06d}-FLAG", DateOfCall=f"2024-09-{1 + i % 28:02d}", CalYear="2024",
                         FirstPumpArriving_AttendanceTime=str(200 + 7 * i)) for i in range(40)]
    report = _evaluate(capsys, str(write_csv(tmp_path / "i.csv", rows, INCIDENT_HEADER)))
    assert report["flag"]["rows"] == report["n"] == 80 and "flagged_share" in report["flag"]


def test_predict_shows_the_chance_of_a_minute_late(model_env, capsys):
    args = ["predict", "--location", "51.5210,-0.1900", "--time", "2024-09-01 17:30", "--incident-group", "Fire"]
    assert main(args + ["--rank", "102", "--json"]) == EXIT_OK
    estimates = json.loads(capsys.readouterr().out)
    assert all(0 < e["p_late"] < 1 for e in estimates) and any(e["flag"] for e in estimates)
    assert all(e["flag_reason"] for e in estimates if e["flag"])
    assert main(args + ["--rank", "102"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "P(over a minute late)" in out and "⚠ " in out


def test_predict_batch_writes_the_chance_of_a_minute_late(model_env, capsys, tmp_path):
    path = write_csv(tmp_path / "r.csv", [{"station": "A21", "location": "W2", "time": "2024-09-15 14:00",
                                           "incident_group": "Fire"}])
    assert main(["predict-batch", str(path), str(tmp_path / "out.csv")]) == EXIT_OK
    out = pd.read_csv(tmp_path / "out.csv")
    assert 0 < out["p_late"].iloc[0] < 1 and "flag" in out.columns


def test_models_show_describes_the_flag(model_env, capsys):
    assert main(["models", "show"]) == EXIT_OK
    flag = json.loads(capsys.readouterr().out)["flag"]
    assert flag["rule"].startswith("flagged when the chance of arriving over 60 s after the median")
    assert flag["validation"]["flagged_share"] is not None and flag["test"]["flagged_share"] is not None
