"""`bench-coverage`: the station map's library work timed on the current store and model."""
import json

import pytest

from lfb.cli import EXIT_FAILED, EXIT_OK, main


def test_bench_coverage_times_every_part_on_the_store(trained, monkeypatch, capsys):
    settings, result = trained
    monkeypatch.setenv("LFB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LFB_MODELS_DIR", str(settings.models_dir))
    assert main(["bench-coverage", "--json", "--hour", "3", "--weekday", "6"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == result.version and out["months"] == 10
    assert out["coverage_ms"]["requests"] == 1728 * 6
    assert len(out["station_figures_ms"]) == 5 and out["what_if_ms"]["cells_slower"] > 0
    assert "London's coverage (1,728 cells x 6 stations" in out["summary"]


def test_bench_coverage_without_data_says_so(settings, capsys):
    assert main(["bench-coverage"]) == EXIT_FAILED
    assert "no pump attendances" in capsys.readouterr().err


def test_bench_coverage_has_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["bench-coverage", "--help"])
    assert done.value.code == 0
    assert "usage: python -m lfb bench-coverage" in capsys.readouterr().out
