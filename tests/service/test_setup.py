"""setup: a first model when none serves, and a fresh one when no registered version can load."""
import functools

from lfb.model import registry
from lfb.model.estimator import ModelSettings
from lfb.service import jobs
from tests.builders import FAST_MODEL


def _fast_training(monkeypatch):
    """Make setup's training quick (same job, small model settings)."""
    import lfb.model.training as training

    monkeypatch.setattr(training, "train", functools.partial(training.train,
                                                             model_settings=ModelSettings(**FAST_MODEL)))


def test_setup_trains_a_fresh_model_when_no_version_can_load(trained_copy, monkeypatch):
    settings, db, result = trained_copy
    _fast_training(monkeypatch)
    (settings.models_dir / result.version / "model-0.cbm").unlink()
    lines = []
    db = jobs.setup(settings, demo_if_empty=False, log=lines.append)
    assert any("no model can serve" in line and "training a fresh one" in line for line in lines)
    fresh = registry.champion(db)
    assert fresh != result.version
    registry.load_registered(db, settings.models_dir, fresh)


def test_setup_leaves_a_serving_model_alone(trained_copy, monkeypatch):
    settings, db, result = trained_copy
    _fast_training(monkeypatch)
    db = jobs.setup(settings, demo_if_empty=False, log=lambda _m: None)
    assert registry.champion(db) == result.version and len(registry.list_versions(db)) == 1
