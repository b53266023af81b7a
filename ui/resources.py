"""What the pages share and load once per process: the model in service, reloaded when the champion changes."""
from __future__ import annotations

import streamlit as st

from lfb.config import Settings
from lfb.model.registry import champion
from lfb.model.serving import NoModel, Predictor
from lfb.service import jobs

NO_MODEL = ("No model in service yet: an admin trains one (`python -m lfb train`, or `python -m lfb setup`, which "
            "trains one when none can serve).")


def champion_version(settings: Settings) -> str | None:
    """Return the version in service (a quick read on every run, so a promotion or rollback shows at once)."""
    if not settings.db_path.exists():  # no store yet: nothing serves, and looking must not create one
        return None
    db = jobs.open_store(settings)
    try:
        return champion(db)
    finally:
        db.close()


@st.cache_resource(max_entries=2, show_spinner="Loading the model ...")
def _predictor(db_path: str, models_dir: str, version: str, _settings: Settings) -> Predictor:
    """Return the model that serves while `version` is the champion (loaded once per champion and process)."""
    db = jobs.open_store(_settings)
    try:
        predictor = Predictor.from_registry(db, _settings)
    finally:
        db.close()
    _warm_up()
    return predictor


def _warm_up() -> None:
    """Load the postcode table now, so a dispatcher's first estimate does not wait for it."""
    from lfb.geo.postcodes import postcode_table

    postcode_table()


def serving_model(settings: Settings) -> tuple[Predictor | None, str]:
    """Return the model in service (cached per champion version), or None and why there is none."""
    version = champion_version(settings)
    if version is None:
        return None, NO_MODEL
    try:
        return _predictor(str(settings.db_path), str(settings.models_dir), version, settings), ""
    except NoModel as exc:
        return None, f"No model can serve: {exc}"
