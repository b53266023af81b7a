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


def _recording_training(monkeypatch) -> list:
    """Make setup's training record the model settings it was given (and train nothing)."""
    import lfb.model.training as training

    given = []
    monkeypatch.setattr(training, "train", lambda *_a, model_settings=None, **_k: given.append(model_settings))
    return given


def test_a_quick_first_model_on_demo_data_uses_the_quick_learning_rate(trained_copy, monkeypatch):
    settings, _db, result = trained_copy
    given = _recording_training(monkeypatch)
    (settings.models_dir / result.version / "model-0.cbm").unlink()
    lines = []
    jobs.setup(settings, demo_if_empty=False, quick_demo_model=True, log=lines.append)
    assert len(given) == 1 and given[0].learning_rate == jobs.QUICK_DEMO_MODEL["learning_rate"] == 0.2
    assert given[0].early_stopping_rounds == 30 and given[0].threads == settings.model_threads
    assert given[0].max_iterations == ModelSettings().max_iterations and given[0].depth == ModelSettings().depth
    assert any("on the DEMO data (learning rate 0.2" in line for line in lines)


def test_real_data_and_a_plain_setup_train_with_the_full_settings(trained_copy, monkeypatch):
    settings, db, result = trained_copy
    given = _recording_training(monkeypatch)
    (settings.models_dir / result.version / "model-0.cbm").unlink()
    jobs.setup(settings, demo_if_empty=False, log=lambda _m: None)  # not asked for a quick model
    with db.conn:
        db.execute("UPDATE incidents SET is_demo = 0 WHERE rowid = (SELECT MIN(rowid) FROM incidents)")
    jobs.setup(settings, demo_if_empty=False, quick_demo_model=True, log=lambda _m: None)  # real rows: full
    assert given == [None, None]  # train() then uses its full ModelSettings


def test_the_setup_command_asks_for_a_quick_demo_model_unless_told_otherwise(settings, monkeypatch):
    from lfb.cli import main

    real, asked = jobs.setup, []

    def recording(settings, **kwargs):
        asked.append(kwargs["quick_demo_model"])
        return real(settings, demo_if_empty=False, train_if_missing=False, log=lambda _m: None)

    monkeypatch.setattr(jobs, "setup", recording)
    assert main(["setup"]) == 0 and main(["setup", "--full-training"]) == 0
    assert asked == [True, False]
