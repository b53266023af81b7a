"""Settings: a bad LFB_* value names the variable and what it must be; the CLI treats it as bad usage."""
import pytest

from lfb.cli import EXIT_USAGE, main
from lfb.config import ConfigError, get_settings


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LFB_CHUNK_ROWS", "abc", "LFB_CHUNK_ROWS must be a whole number, got 'abc'"),
    ("LFB_CHUNK_ROWS", "0", "LFB_CHUNK_ROWS must be at least 1, got '0'"),
    ("LFB_MODEL_THREADS", "0", "LFB_MODEL_THREADS must be at least 1, got '0'"),
    ("LFB_MODEL_THREADS", "2.5", "LFB_MODEL_THREADS must be a whole number, got '2.5'"),
    ("LFB_TEST_MONTHS", "-1", "LFB_TEST_MONTHS must be at least 1, got '-1'"),
    ("LFB_HTTP_RETRIES", "-1", "LFB_HTTP_RETRIES must be at least 0, got '-1'"),
    ("LFB_HTTP_TIMEOUT", "soon", "LFB_HTTP_TIMEOUT must be a number, got 'soon'"),
    ("LFB_HTTP_TIMEOUT", "0", "LFB_HTTP_TIMEOUT must be more than 0, got '0'"),
    ("LFB_PROMOTE_MARGIN", "1.5", "LFB_PROMOTE_MARGIN must be between 0 and 1, got '1.5'"),
    ("LFB_COVERAGE_TOLERANCE", "-0.1", "LFB_COVERAGE_TOLERANCE must be between 0 and 1, got '-0.1'"),
    ("LFB_UPLOAD_MAX_MB", "0", "LFB_UPLOAD_MAX_MB must be at least 1, got '0'"),
    ("LFB_UPLOAD_MAX_MB", "big", "LFB_UPLOAD_MAX_MB must be a whole number, got 'big'"),
    ("LFB_DRIFT_TOLERANCE", "0", "LFB_DRIFT_TOLERANCE must be more than 0, got '0'"),
    ("LFB_DRIFT_TOLERANCE", "15%", "LFB_DRIFT_TOLERANCE must be a number, got '15%'"),
    ("LFB_DRIFT_MIN_PUMPS", "0", "LFB_DRIFT_MIN_PUMPS must be at least 1, got '0'"),
    ("LFB_FAULT_TRIALS", "0", "LFB_FAULT_TRIALS must be at least 1, got '0'"),
    ("LFB_FAULT_TRIALS", "many", "LFB_FAULT_TRIALS must be a whole number, got 'many'"),
    ("LFB_REFIT_ON_ALL", "maybe", "LFB_REFIT_ON_ALL must be 1 or 0 (yes/no, true/false), got 'maybe'"),
])
def test_a_bad_value_names_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        get_settings()
    assert str(raised.value) == message


def test_good_values_are_read(monkeypatch):
    for name, value in (("LFB_CHUNK_ROWS", " 2000 "), ("LFB_MODEL_THREADS", "4"), ("LFB_HTTP_TIMEOUT", "2.5"),
                        ("LFB_REFIT_ON_ALL", "No"), ("LFB_PROMOTE_MARGIN", "0")):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.chunk_rows, settings.model_threads, settings.http_timeout, settings.refit_on_all,
            settings.promote_margin) == (2000, 4, 2.5, False, 0.0)


def test_the_admin_console_settings_are_read(monkeypatch, tmp_path):
    defaults = get_settings()
    assert (defaults.upload_max_mb, defaults.drift_tolerance, defaults.drift_min_pumps) == (300, 0.15, 500)
    for name, value in (("LFB_UPLOAD_MAX_MB", "5"), ("LFB_DRIFT_TOLERANCE", "0.25"), ("LFB_DRIFT_MIN_PUMPS", "50"),
                        ("LFB_DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.upload_max_mb, settings.drift_tolerance, settings.drift_min_pumps) == (5, 0.25, 50)
    assert settings.uploads_dir == tmp_path / "uploads"
    assert settings.relocated(tmp_path / "other").uploads_dir == tmp_path / "other" / "uploads"


def test_empty_values_mean_the_default(monkeypatch):
    monkeypatch.setenv("LFB_CHUNK_ROWS", "")
    assert get_settings().chunk_rows == 50_000


def test_the_cli_says_which_variable_is_wrong_and_exits_2(settings, monkeypatch, capsys):
    monkeypatch.setenv("LFB_CHUNK_ROWS", "abc")
    assert main(["status"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == "error: LFB_CHUNK_ROWS must be a whole number, got 'abc'"


def test_training_speed_settings_are_read_and_used(monkeypatch):
    from lfb.config import ConfigError
    from lfb.model.training import default_model_settings

    monkeypatch.setenv("LFB_MODEL_LEARNING_RATE", "0.3")
    monkeypatch.setenv("LFB_MODEL_MAX_ITERATIONS", "80")
    model = default_model_settings(get_settings())
    assert (model.learning_rate, model.max_iterations) == (0.3, 80)
    monkeypatch.setenv("LFB_MODEL_LEARNING_RATE", "fast")
    with pytest.raises(ConfigError, match="LFB_MODEL_LEARNING_RATE must be a number"):
        get_settings()


def test_the_fault_suite_runs_20_trials_per_scenario_unless_told(monkeypatch):
    monkeypatch.delenv("LFB_FAULT_TRIALS", raising=False)
    assert get_settings().fault_trials == 20
    monkeypatch.setenv("LFB_FAULT_TRIALS", " 100 ")
    assert get_settings().fault_trials == 100
    monkeypatch.setenv("LFB_FAULT_TRIALS", "1")
    assert get_settings().fault_trials == 1
