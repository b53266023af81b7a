"""Scoring a version: falls back like serving, honest training-data warning, the same time check as predict."""
import shutil

import pytest

from lfb.model import registry
from lfb.model.registry import ModelFileError
from lfb.model.scoring import score_version
from tests.builders import INCIDENT_HEADER, incident_row, write_csv


def _incidents(path, days):
    """Write an incident-records file with one incident (two derived pump attendances) per call date."""
    rows = [incident_row(f"{i:06d}-SCORE", DateOfCall=day, CalYear=day[:4]) for i, day in enumerate(days)]
    return write_csv(path, rows, INCIDENT_HEADER)


def _promote_copy(settings, db, version, tag="b"):
    """Register a copy of `version` under a new id and make it the champion."""
    import json

    new = f"{version}-{tag}"
    shutil.copytree(settings.models_dir / version, settings.models_dir / new)
    path = settings.models_dir / new / "metadata.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"version": new}))
    registry.register(db, registry.read_metadata(settings.models_dir, new), settings.models_dir / new)
    registry.set_champion(db, settings.models_dir, new, who="t", action="manual promote", reason="test")
    return new


def test_evaluate_falls_back_to_the_previous_champion_that_loads(trained_copy):
    settings, db, result = trained_copy
    new = _promote_copy(settings, db, result.version)
    (settings.models_dir / new / "model-0.cbm").write_bytes(b"garbage")
    report = score_version(db, settings)
    assert report["version"] == result.version
    assert f"the champion {new} cannot be loaded" in report["fallback"] and result.version in report["fallback"]
    with pytest.raises(ModelFileError, match=f"model {new}: file model-0.cbm is damaged.*models list"):
        score_version(db, settings, version=new)


def test_months_before_the_training_window_are_not_called_training_data(trained_copy, tmp_path):
    settings, db, result = trained_copy
    windows = result.metadata["windows"]
    assert windows["train_from"] == "2024-01"
    report = score_version(db, settings, file=_incidents(tmp_path / "i.csv", ["2023-06-10", "2024-03-10",
                                                                               "2024-09-10"]))
    assert report["n"] == 6
    assert report["warning"].startswith("1 of these months (2024-03..2024-03) were in this model's training data")
    only_before = score_version(db, settings, file=_incidents(tmp_path / "b.csv", ["2023-06-10", "2023-07-10"]))
    assert only_before["n"] == 4 and only_before["warning"] == ""


def test_rows_far_outside_the_models_data_are_left_out_and_counted(trained_copy, tmp_path):
    settings, db, result = trained_copy
    report = score_version(db, settings, file=_incidents(tmp_path / "i.csv", ["2021-05-01", "2021-05-02",
                                                                               "2024-09-10", "2030-01-01"]))
    far = {k: v for k, v in report["dropped"].items() if "far outside" in k}
    assert report["n"] == 2 and list(far.values()) == [4]  # two 2021 incidents, two pumps each
    assert report["dropped"]["rejected rows of the file"] == 1  # a 2030 call is an impossible date: a reject
    with pytest.raises(ValueError, match="no pump attendances to score.*far outside the data this model learned"):
        score_version(db, settings, file=_incidents(tmp_path / "old.csv", ["2021-05-01"]))


def test_stored_rows_far_outside_the_models_data_are_left_out(trained_copy, tmp_path):
    from lfb.data.ingest import ingest_file

    settings, db, result = trained_copy
    assert ingest_file(db, _incidents(tmp_path / "old.csv", ["2021-05-01", "2021-06-01"])).status == "ok"
    report = score_version(db, settings, since="2021-01")
    assert sum(v for k, v in report["dropped"].items() if "far outside" in k) == 4
    assert "2021-05" not in [m["month"] for m in report["by_month"]]
