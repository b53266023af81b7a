"""The jobs the CLI, the admin page and the scheduler all run: one code path for each."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from lfb.config import Settings
from lfb.data.ingest import IngestReport, Progress, ingest_file
from lfb.data.reference import sync_stations
from lfb.data.status import has_data
from lfb.service.locks import job_lock
from lfb.data.store import Store, connect
from lfb.text import shortened

if TYPE_CHECKING:
    from lfb.data.datastore import FetchReport

Log = Callable[[str], None]
INGEST_LOCK = "ingest"  # ingest, fetch, demo and clear-demo: one at a time
ProgressFactory = Callable[[str], Progress | None]  # given a label, return a progress callback (or None)


def _no_progress(_label: str) -> None:
    """Return no progress callback."""
    return None


def open_store(settings: Settings) -> Store:
    """Open the records store; it writes only to create or upgrade its schema or when the reference stations changed."""
    db = connect(settings.db_path, write_wait_s=settings.write_wait_s)
    sync_stations(db)
    return db


def tidy_models(db: sqlite_utils.Database, settings: Settings, log: Log = print) -> list[str]:
    """Clean up after an interrupted training, unless a training runs now (then it is left for later)."""
    from lfb.model.registry import clean_strays
    from lfb.service.locks import JobBusy

    try:
        with job_lock(settings, "train", owner="tidy"):
            return clean_strays(db, settings.models_dir, log=log)
    except JobBusy:
        return []


def _close_interrupted(db: sqlite_utils.Database, log: Log) -> None:
    """Mark the ingests a killed process left 'running' as failed (the caller holds the ingest lock)."""
    from lfb.data.ingest import mark_interrupted

    if gone := mark_interrupted(db):
        log(f"note: {gone} ingest(s) left unfinished by a process that ended are marked failed; nothing of them "
            "was kept")


def close_interrupted_ingests(db: sqlite_utils.Database, settings: Settings, log: Log = print,
                              owner: str = "cli") -> None:
    """Mark the ingests a killed process left 'running' as failed, unless an ingest runs now (it will do it)."""
    from lfb.service.locks import JobBusy

    try:
        with job_lock(settings, INGEST_LOCK, owner=owner):
            _close_interrupted(db, log)
    except JobBusy:
        pass


def ingest_files(db: sqlite_utils.Database, paths: Iterable[Path], *, settings: Settings, force: bool = False,
                 progress: ProgressFactory = _no_progress, log: Log = print, owner: str = "cli") -> list[IngestReport]:
    """Ingest files one after another (one ingest job at a time); each is atomic, a failure does not stop the others."""
    reports = []
    with job_lock(settings, INGEST_LOCK, owner=owner):
        _close_interrupted(db, log)
        for path in paths:
            report = ingest_file(db, path, chunk_rows=settings.chunk_rows, force=force,
                                 progress=progress(Path(path).name))
            log(f"{report.status:>7}  {shortened(report.file_name)}: {report.message}")
            reports.append(report)
    return reports


def fetch(db: sqlite_utils.Database, settings: Settings, *, datasets: Iterable[str] | None = None,
          progress: ProgressFactory = _no_progress, log: Log = print, owner: str = "cli") -> FetchReport:
    """Download new or changed files from the London Datastore and ingest them (one ingest job at a time)."""
    from lfb.data.datastore import fetch as fetch_files

    with job_lock(settings, INGEST_LOCK, owner=owner):
        _close_interrupted(db, log)
        return fetch_files(db, settings, datasets=datasets, progress=progress("fetch"), log=log)


def clear_demo(db: sqlite_utils.Database, settings: Settings, owner: str = "cli") -> dict[str, int]:
    """Delete every demo row (not while an ingest runs)."""
    from lfb.data.store import delete_demo_rows

    with job_lock(settings, INGEST_LOCK, owner=owner):
        return delete_demo_rows(db)


def load_demo(db: sqlite_utils.Database, settings: Settings, *, start: str | None = None, months: int = 36,
              seed: int = 2024, incidents_per_year: int = 120_000, progress: ProgressFactory = _no_progress,
              log: Log = print) -> list[IngestReport]:
    """Generate demo files (published schema) into data/demo and ingest them like any other file."""
    from lfb.data.demo import generate_demo

    out_dir = settings.data_dir / "demo"
    log(f"generating DEMO data ({months} months, seed {seed}) into {out_dir} ...")
    result = generate_demo(out_dir, start=start, months=months, seed=seed, incidents_per_year=incidents_per_year,
                           progress=progress("generate demo"))
    return ingest_files(db, result.paths, settings=settings, progress=progress, log=log)


def serving_problem(db: sqlite_utils.Database, settings: Settings) -> str:
    """Return why no model can serve ('' when the champion, or a fallback below it, loads)."""
    from lfb.model.registry import NoChampion, NothingServes, load_serving

    try:
        load_serving(db, settings.models_dir)
    except NoChampion:
        return "no model in service"
    except NothingServes as exc:
        return f"no model can serve ({'; '.join(exc.problems)})"
    return ""


# A model trained by setup on DEMO data only uses a higher learning rate: measured on the London-scale demo (test
# 2026-08..10, 45,441 pumps), MAE 74.5 s and P90 coverage 90.4% either way, in 58 s instead of 189 s, so ./start.sh
# is ready in minutes. Real data, and every other training (CLI, admin, sidecar), use the full settings.
QUICK_DEMO_MODEL = {"learning_rate": 0.2, "early_stopping_rounds": 30}


def setup(settings: Settings, *, demo_if_empty: bool = True, train_if_missing: bool = True,
          quick_demo_model: bool = False, progress: ProgressFactory = _no_progress,
          log: Log = print) -> sqlite_utils.Database:
    """Prepare the store; load the demo dataset when it holds no records; train a model when none can serve
    (with `quick_demo_model`, on demo data only, at QUICK_DEMO_MODEL's learning rate)."""
    from lfb.model.training import train

    db = open_store(settings)
    tidy_models(db, settings, log=log)
    if demo_if_empty and not has_data(db):
        log("the database is empty: loading the embedded DEMO dataset (synthetic, published LFB schema)")
        load_demo(db, settings, progress=progress, log=log)
    if train_if_missing and has_data(db) and (problem := serving_problem(db, settings)):
        fresh = "the first one" if problem == "no model in service" else "a fresh one"
        demo_only = not db.execute("SELECT EXISTS(SELECT 1 FROM incidents WHERE is_demo = 0)").fetchone()[0]
        if quick_demo_model and demo_only:
            from lfb.model.estimator import ModelSettings

            log(f"{problem}: training {fresh} on the DEMO data (learning rate {QUICK_DEMO_MODEL['learning_rate']}: "
                "as accurate on the demo, about a minute) ...")
            train(db, settings, who="setup", log=log,
                  model_settings=ModelSettings(threads=settings.model_threads, **QUICK_DEMO_MODEL))
        else:
            log(f"{problem}: training {fresh} (a few minutes on London-scale data) ...")
            train(db, settings, who="setup", log=log)
    return db
