"""The model commands on damaged or incomplete versions: one clear line, never a traceback; rollback; evaluate."""
import json
import shutil

import pytest

from lfb.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from lfb.model import registry


@pytest.fixture
def env(trained_copy, tmp_path, monkeypatch):
    """Point the CLI at a private copy of the trained store; return (settings, db, champion version)."""
    settings, db, result = trained_copy
    monkeypatch.setenv("LFB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LFB_DB", str(settings.db_path))
    monkeypatch.setenv("LFB_MODELS_DIR", str(settings.models_dir))
    return settings, db, result.version


def _copy_version(settings, db, version, tag):
    """Register a copy of `version` under a new id."""
    new = f"{version}-{tag}"
    shutil.copytree(settings.models_dir / version, settings.models_dir / new)
    path = settings.models_dir / new / "metadata.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"version": new}))
    registry.register(db, registry.read_metadata(settings.models_dir, new), settings.models_dir / new)
    return new


def _promote(settings, db, version):
    """Make `version` the champion."""
    registry.set_champion(db, settings.models_dir, version, who="t", action="manual promote", reason="test")


def _one_line_error(err: str, *needles: str) -> None:
    """Assert that stderr is one error line holding every needle."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err


PREDICT = ["predict", "--station", "A21", "--location", "W2", "--time", "2024-09-01 10:00", "--incident-group",
           "Fire"]


def test_incomplete_metadata_is_a_clear_error_for_predict_show_and_evaluate(env, capsys):
    settings, db, version = env
    path = settings.models_dir / version / "metadata.json"
    meta = json.loads(path.read_text())
    for key in ("time_range", "evaluation"):
        meta.pop(key)
    path.write_text(json.dumps(meta))
    assert main(PREDICT) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, "no model can serve", "metadata.json is incomplete: missing "
                    "time_range, evaluation;", "python -m lfb train")
    assert main(["models", "show"]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, f"model {version}", "missing time_range, evaluation")
    assert main(["evaluate"]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, "missing time_range, evaluation")
    assert main(["evaluate", "--version", version]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, "missing time_range, evaluation", "models list")


def test_models_list_marks_a_damaged_version(env, capsys):
    settings, db, version = env
    (settings.models_dir / version / "model-0.cbm").write_bytes(b"garbage")
    assert main(["models", "list"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"* {version}" in out and "DAMAGED: file model-0.cbm is damaged" in out
    assert main(["models", "list", "--json"]) == EXIT_OK
    (row,) = json.loads(capsys.readouterr().out)
    assert row["damaged"].startswith("file model-0.cbm is damaged")


def test_models_show_of_a_damaged_version_says_so(env, capsys):
    settings, db, version = env
    assert main(["models", "show", version]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["damaged"] is None
    (settings.models_dir / version / "model-0.cbm").unlink()
    assert main(["models", "show", version]) == EXIT_FAILED
    out, err = capsys.readouterr()
    shown = json.loads(out)
    assert shown["version"] == version and shown["damaged"].startswith("file model-0.cbm is missing")
    _one_line_error(err, f"model {version}", "cannot serve")


def test_evaluate_falls_back_like_predict_and_an_explicit_version_fails_clearly(env, capsys):
    settings, db, version = env
    new = _copy_version(settings, db, version, "b")
    _promote(settings, db, new)
    (settings.models_dir / new / "model.json").unlink()
    assert main(["evaluate"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.startswith(f"{version} on test window")
    assert f"warning: the champion {new} cannot be loaded" in err and version in err
    assert main(["evaluate", "--version", new]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, f"model {new}: file model.json is missing", "models list")


@pytest.mark.parametrize("since", ["banana", "2024-13", "2024-02-30", "24-01", "2024-1"])
def test_evaluate_since_must_be_a_month_or_date(env, capsys, since):
    with pytest.raises(SystemExit) as done:
        main(["evaluate", "--since", since])
    assert done.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--since" in err and "YYYY-MM or YYYY-MM-DD" in err and "Traceback" not in err


def test_evaluate_since_a_date_scores_from_its_month(env, capsys):
    assert main(["evaluate", "--since", "2024-10-15", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert [m["month"] for m in report["by_month"]] == ["2024-10"]


def test_a_second_rollback_goes_further_back(env, capsys):
    settings, db, v1 = env
    v2, v3 = _copy_version(settings, db, v1, "2"), _copy_version(settings, db, v1, "3")
    _promote(settings, db, v2)
    _promote(settings, db, v3)
    assert main(["models", "rollback"]) == EXIT_OK
    assert f"champion is {v2}" in capsys.readouterr().out
    assert main(["models", "rollback"]) == EXIT_OK
    assert f"champion is {v1}" in capsys.readouterr().out
    assert main(["models", "rollback"]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, "nothing to roll back to")
    assert registry.champion(db) == v1


def test_rollback_past_a_damaged_version_says_it_skipped_it(env, capsys):
    settings, db, v1 = env
    v2, v3 = _copy_version(settings, db, v1, "2"), _copy_version(settings, db, v1, "3")
    _promote(settings, db, v2)
    _promote(settings, db, v3)
    (settings.models_dir / v2 / "model-0.cbm").unlink()
    assert main(["models", "rollback"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"champion is {v1}" in out and f"skipped model {v2}: file model-0.cbm is missing" in out


def test_setup_does_not_claim_a_damaged_model_is_in_service(env, capsys):
    settings, db, version = env
    new = _copy_version(settings, db, version, "b")
    _promote(settings, db, new)
    (settings.models_dir / new / "model-0.cbm").write_bytes(b"garbage")
    assert main(["setup", "--no-train"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"model in service: {version} (the champion {new} cannot be loaded" in out
    (settings.models_dir / version / "model-0.cbm").unlink()
    assert main(["setup", "--no-train"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"model in service: {new}" not in out and f"model in service: {version}" not in out
    assert "model in service: none can load" in out and "python -m lfb train" in out


def test_a_damaged_version_asked_for_by_name_is_a_clear_error(env, capsys):
    settings, db, version = env
    new = _copy_version(settings, db, version, "b")
    (settings.models_dir / new / "model-0.cbm").write_bytes(b"garbage")
    assert main(PREDICT + ["--version", new]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, f"model {new}: file model-0.cbm is damaged", "models list")
    assert main(["models", "promote", new]) == EXIT_FAILED
    _one_line_error(capsys.readouterr().err, f"model {new}: file model-0.cbm is damaged", "not put into service")
    assert registry.champion(db) == version
