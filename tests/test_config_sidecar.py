"""The sidecar's settings: a bad value names the variable and what it must be; the CLI treats it as bad usage."""
import pytest

from lfb.cli import EXIT_USAGE, main
from lfb.config import ConfigError, get_settings


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LFB_PIPELINE_CRON", "0 2 15 *", "LFB_PIPELINE_CRON must be a 5-field crontab expression (minute hour "
                                      "day-of-month month day-of-week, e.g. '0 2 15 * *'), got '0 2 15 *': it has 4 "
                                      "field(s); a crontab expression has 5"),
    ("LFB_PIPELINE_CRON", "0 25 * * *", "got '0 25 * * *': Error validating expression '25'"),
    ("LFB_POLL_S", "0", "LFB_POLL_S must be at least 0.1, got '0'"),
    ("LFB_POLL_S", "often", "LFB_POLL_S must be a number, got 'often'"),
    ("LFB_MISFIRE_GRACE_S", "-1", "LFB_MISFIRE_GRACE_S must be at least 0, got '-1'"),
    ("LFB_SIDECAR_THREADS", "0", "LFB_SIDECAR_THREADS must be at least 1, got '0'"),
    ("LFB_SIDECAR_NICE", "-5", "LFB_SIDECAR_NICE must be at least 0, got '-5'"),
    ("LFB_SIDECAR_NICE", "20", "LFB_SIDECAR_NICE must be a nice value from 0 (same priority as the app) to 19"),
])
def test_a_bad_value_names_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        get_settings()
    assert message in str(raised.value)


def test_defaults_and_good_values(monkeypatch):
    settings = get_settings()
    assert (settings.pipeline_cron, settings.misfire_grace_s, settings.poll_s, settings.sidecar_threads) == \
        ("0 2 15 * *", 6 * 3600.0, 3.0, 1)
    assert settings.sidecar_nice == 10
    for name, value in (("LFB_PIPELINE_CRON", " 30  3 * *   0 "), ("LFB_MISFIRE_GRACE_S", "600"),
                        ("LFB_POLL_S", "0.5"), ("LFB_SIDECAR_THREADS", "2")):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.pipeline_cron, settings.misfire_grace_s, settings.poll_s, settings.sidecar_threads) == \
        ("30 3 * * 0", 600.0, 0.5, 2)


def test_the_cli_stops_on_a_bad_cron_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("LFB_PIPELINE_CRON", "every month")
    assert main(["jobs"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: LFB_PIPELINE_CRON must be a 5-field crontab")
