"""The CLI says what it does: usage mistakes exit 2 with one clear line, failures exit 1, never a traceback."""
import json

import pytest

from lfb.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


def _usage_error(args, capsys) -> str:
    """Run the CLI with `args`, check it stops as bad usage (exit 2), and return what it printed on stderr."""
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and f"(see `python -m lfb {args[0]} --help`)" in err
    return err


@pytest.fixture
def model_env(trained, monkeypatch):
    """Point the CLI at the shared trained store (read-only commands only)."""
    settings, result = trained
    monkeypatch.setenv("LFB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LFB_MODELS_DIR", str(settings.models_dir))
    return result


def test_an_unexpected_error_is_one_line_with_the_traceback_logged(settings, monkeypatch, capsys):
    import lfb.data.status

    def broken(_db):
        raise KeyError("months")

    monkeypatch.setattr(lfb.data.status, "data_status", broken)
    assert main(["status"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unexpected KeyError: 'months'")
    assert "--debug" in err and str(settings.error_log) in err
    assert "Traceback" in settings.error_log.read_text() and "KeyError: 'months'" in settings.error_log.read_text()
    with pytest.raises(KeyError):
        main(["--debug", "status"])


@pytest.mark.parametrize("args", [
    ["train", "--test-months", "0"], ["train", "--test-months", "-2"], ["backtest-refit", "--test-months", "0"],
])
def test_months_must_be_positive(settings, capsys, args):
    assert "must be a whole number of at least 1" in _usage_error(args, capsys)


@pytest.mark.parametrize("value", ["banana", "2023-13", "2023-02-30", "23-01", "2023/01"])
def test_train_until_needs_a_month_or_a_date(settings, capsys, value):
    err = _usage_error(["train", "--until", value], capsys)
    assert f"argument --until: {value!r} is not a month or a date: use YYYY-MM or YYYY-MM-DD" in err


@pytest.mark.parametrize("args", [
    ["status", "--months", "-1"], ["demo", "--months", "0"], ["demo", "--start", "2024-1x"],
    ["demo", "--incidents-per-year", "0"], ["bench-ingest", "--rows", "0"],
    ["bench-model", "--incidents-per-year", "-5"],
    ["bench-batch", "--months", "0"],
])
def test_other_numbers_and_months_are_checked(settings, capsys, args):
    assert "error: argument" in _usage_error(args, capsys)


def test_models_promote_needs_a_version(settings, capsys):
    assert "give the version to promote" in _usage_error(["models", "promote"], capsys)


PREDICT = ["predict", "--location", "W2", "--time", "2024-09-01 10:00", "--incident-group", "Fire"]


def test_predict_needs_a_station_or_rank(settings, capsys):
    err = _usage_error(PREDICT, capsys)
    assert "give --station S, or --rank N to compare the N nearest stations (--rank 0 = all)" in err


def test_predict_rank_must_not_be_negative(settings, capsys):
    assert "must be a whole number of at least 0" in _usage_error(PREDICT + ["--rank=-200"], capsys)


def test_predict_rank_0_ranks_every_station_without_station(model_env, capsys):
    assert main(PREDICT + ["--rank", "0", "--json"]) == EXIT_OK
    ranked = json.loads(capsys.readouterr().out)
    assert len(ranked) == 102 and [e["median_s"] for e in ranked] == sorted(e["median_s"] for e in ranked)


@pytest.mark.parametrize("group", ["fire", "FALSE ALARM", " special service "])
def test_incident_groups_ignore_case(model_env, capsys, group):
    args = ["predict", "--station", "A21", "--location", "W2", "--time", "2024-09-01 10:00", "--json"]
    assert main(args + ["--incident-group", group]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)[0]["station_code"] == "A21"


@pytest.mark.parametrize("location", ["-0.19,51.52", "-0.19 51.52", "-0.19, 51.52"])
def test_a_location_starting_with_a_minus_sign_needs_no_equals(model_env, capsys, location):
    args = ["predict", "--station", "A21", "--time", "2024-09-01 10:00", "--incident-group", "Fire", "--json"]
    assert main(args + ["--location", location]) == EXIT_OK
    estimate = json.loads(capsys.readouterr().out)[0]
    assert estimate["distance_m"] < 1500
    assert any("longitude first" in note for note in estimate["notes"])


def _estimate(args, capsys) -> list:
    """Run a predict command that must succeed; return its JSON answer."""
    assert main(args + ["--json"]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_predict_reads_times_day_first_like_a_londoner(model_env, capsys):
    args = ["predict", "--station", "A21", "--location", "W2", "--incident-group", "Fire", "--time"]
    iso = _estimate(args + ["2023-08-01T14:30"], capsys)
    assert _estimate(args + ["01/08/2023 14:30"], capsys) == iso
    assert _estimate(args + ["2023-08-01T13:30Z"], capsys) == iso  # UTC, converted to London summer time
    assert _estimate(args + ["08/01/2023 14:30"], capsys) != iso  # 8 January


def test_predict_time_now_on_an_old_model_names_its_data_window(model_env, capsys, monkeypatch):
    import lfb.model.times as times

    monkeypatch.setattr(times, "london_now", lambda: __import__("pandas").Timestamp("2026-11-30 14:00"))
    assert main(["predict", "--station", "A21", "--location", "W2", "--incident-group", "Fire"]) == EXIT_FAILED
    assert capsys.readouterr().err.strip() == (
        "error: time now (2026-11-30 14:00) is 2.2 years after the data this model learned from (2024-01-01 to "
        "2024-08-31): train a model on newer data, or give a time between 2023-01-01 and 2026-08-31")


def test_an_unreadable_time_is_bad_usage(settings, capsys):
    err = _usage_error(PREDICT[:3] + ["--time", "yesterday-ish", "--station", "A21"], capsys)
    assert "argument --time: cannot read time 'yesterday-ish'" in err


def test_predict_batch_says_which_file_or_folder_is_missing(model_env, tmp_path, capsys):
    assert main(["predict-batch", str(tmp_path / "nope.csv"), str(tmp_path / "out.csv")]) == EXIT_FAILED
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nope.csv'}: no such file")
    source = tmp_path / "in.csv"
    source.write_text("station,location,time,incident_group\nA21,W2,01/09/2024 10:00,Fire\n")
    assert main(["predict-batch", str(source), str(tmp_path / "no" / "out.csv")]) == EXIT_FAILED
    missing = tmp_path / "no"
    assert capsys.readouterr().err.startswith(f"error: {missing / 'out.csv'}: the folder {missing} does not exist: ")
    assert main(["predict-batch", str(source), str(tmp_path / "out.csv")]) == EXIT_OK
    assert "1 of 1 rows estimated" in capsys.readouterr().out
