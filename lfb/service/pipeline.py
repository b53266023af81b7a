"""The monthly pipeline: fetch what the London Datastore has new, ingest it, train a candidate, and put it into
service only if the promotion rule says so. One function, run by the schedule and by a `pipeline` request."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from lfb.config import Settings
from lfb.model.estimator import ModelSettings
from lfb.service import jobs
from lfb.service.jobs import Log, ProgressFactory

OFFLINE = "offline: the London Datastore cannot be reached; went on with the data already stored"


def _no_progress(_label: str) -> None:
    """Return no progress callback."""
    return None


@dataclass(frozen=True)
class PipelineResult:
    """What one pipeline run did: whether all of it went well, and the outcome in words."""

    ok: bool
    outcome: str
    version: str | None = None  # the candidate trained, if one was
    promoted: bool = False


def decision_words(version: str, decision: dict[str, Any]) -> str:
    """Return a training's verdict in words: '<version> promoted: ...' or '<version> kept as candidate: ...'."""
    text = decision.get("text", "")
    if decision.get("promote"):
        return f"{version} {text}" if text.startswith("promoted") else f"{version} promoted: {text}"
    reason = text.removeprefix("not promoted: ")
    champion = f"; the champion stays {decision['champion']}" if decision.get("champion") else ""
    return f"{version} kept as candidate: {reason}{champion}"


def nothing_new(db: sqlite_utils.Database, settings: Settings) -> str:
    """Return why training now would learn nothing new: a version was trained on exactly the stored data ('' if not)."""
    from lfb.model.registry import ModelFileError, champion, read_metadata
    from lfb.model.training import training_examples

    if champion(db) is None:
        return ""
    fingerprint = training_examples(db).fingerprint()
    for (version,) in db.execute("SELECT version FROM model_versions ORDER BY created DESC, version DESC").fetchall():
        try:
            seen = read_metadata(settings.models_dir, version).get("data_fingerprint")
        except ModelFileError:
            continue
        if seen == fingerprint:
            return (f"nothing new to learn from: {version} was trained on exactly the data stored now, so no "
                    "candidate was trained (ask for a `train` to train one anyway)")
    return ""


def run_pipeline(db: sqlite_utils.Database, settings: Settings, *, who: str = "schedule", owner: str = "pipeline",
                 log: Log = print, progress: ProgressFactory = _no_progress,
                 model_settings: ModelSettings | None = None) -> PipelineResult:
    """Fetch new files (offline: say so and go on), ingest them, train a candidate, promote it only if the rule says so."""
    from lfb.data.datastore import OfflineError
    from lfb.model.training import train

    log("step 1/2: fetching new files from the London Datastore")
    try:
        report = jobs.fetch(db, settings, progress=progress, log=log, owner=owner)
        fetched, fetch_ok = f"fetched: {report.summary()}", report.ok
    except OfflineError:
        fetched, fetch_ok = OFFLINE, True
        log(OFFLINE)
    if reason := nothing_new(db, settings):
        log(reason)
        return PipelineResult(fetch_ok, f"{fetched}; {reason}")
    log("step 2/2: training a candidate and scoring it against the champion on the same newest months")
    result = train(db, settings, who=who, owner=owner, model_settings=model_settings, log=log)
    words = decision_words(result.version, result.metadata["decision"])
    return PipelineResult(fetch_ok, f"{fetched}; {words}", result.version, result.promoted)
