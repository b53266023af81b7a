"""The browser tests' harness: without Chromium they skip with how to install it, and fail in CI."""
from __future__ import annotations

import pytest

from tests.browser import conftest


def test_a_missing_browser_is_a_skip_that_says_how_to_install_it(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        conftest.unavailable("Chromium is not installed")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_a_missing_browser_in_ci_is_a_failure(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="browser tests cannot run in CI: Chromium is not installed"):
        conftest.unavailable("Chromium is not installed")


def test_chromium_is_looked_for_by_path_and_by_name(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(conftest, "CHROMIUM_NAMES", ("/nonexistent/chromium", "chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert conftest.find_chromium() == str(fake)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert conftest.find_chromium() is None
