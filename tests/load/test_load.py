"""The load test's core (tools/bench_load.py) on a small demo store: four dispatchers in four browser contexts of one
Chromium against one app process, while the sidecar idles, then while it trains and ingests. It checks behaviour,
not timings: no errors, estimates and station maps measured for every dispatcher, memory sampled, the sidecar busy.

Without Chromium (or Playwright) it is skipped with a message saying how to install it, except in CI (CI=true),
where that is a failure (as the browser tests).
"""
from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import find_chromium, unavailable
from tools.bench_load import LoadConfig, copy_store, run_load


def test_four_dispatchers_get_estimates_without_errors_with_the_sidecar_idle_then_busy(trained, tmp_path: Path):
    chromium = find_chromium()
    if chromium is None:
        unavailable("Chromium is not installed")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed")
    source, _result = trained
    settings = copy_store(source, tmp_path / "store")
    config = LoadConfig(users=4, duration_s=15, phases=("idle", "busy"), think_s=1.0, map_every=2, timeout_s=45,
                        sidecar_threads=1, ingest_incidents_per_year=5000, chromium=chromium)

    figures = run_load(settings, config, tmp_path, log=lambda _m: None)

    assert list(figures["phases"]) == ["idle", "busy"]
    for phase, f in figures["phases"].items():
        assert f["errors"] == 0, (phase, f["error_samples"])
        assert len(f["estimates_per_user"]) == 4 and all(n > 0 for n in f["estimates_per_user"]), (phase, f)
        assert f["estimates"] == sum(f["estimates_per_user"]) and f["estimate_p95_s"] is not None
        assert f["maps"] > 0, (phase, f)
        assert f["rss_samples"] >= 10  # sampled every second through a 15 s phase
        assert f["app_peak_rss_mb"] > 50 and f["sidecar_peak_rss_mb"] > 20
    busy = figures["phases"]["busy"]
    assert busy["sidecar_jobs_failed"] == []
    assert busy["sidecar_jobs_done"], "the sidecar finished no train or ingest job during the busy phase"
    assert busy["sidecar_cpu_cores"] > figures["phases"]["idle"]["sidecar_cpu_cores"]
