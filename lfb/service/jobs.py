"""The jobs the CLI, the admin page and the scheduler all run: one code path for each."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import sqlite_utils

from lfb.config import Settings
from lfb.data.ingest import IngestReport, Progress, ingest_file
from lfb.data.reference import load_stations
from lfb.data.status import has_data
from lfb.data.store import connect, transaction

Log = Callable[[str], None]
ProgressFactory = Callable[[str], Progress | None]  # given a label, return a progress callback (or None)


def _no_progress(_label: str) -> None:
    """Return no progress callback."""
    return None


def open_store(settings: Settings) -> sqlite_utils.Database:
    """Open (and migrate) the configured database, with the reference stations loaded."""
    db = connect(settings.db_path)
    with transaction(db):
        load_stations(db)
    return db


def ingest_files(db: sqlite_utils.Database, paths: Iterable[Path], *, settings: Settings, force: bool = False,
                 progress: ProgressFactory = _no_progress, log: Log = print) -> list[IngestReport]:
    """Ingest files one after another; each is atomic and a failure does not stop the others."""
    reports = []
    for path in paths:
        report = ingest_file(db, path, chunk_rows=settings.chunk_rows, force=force, progress=progress(Path(path).name))
        log(f"{report.status:>7}  {report.file_name}: {report.message}")
        reports.append(report)
    return reports


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


def setup(settings: Settings, *, demo_if_empty: bool = True, train_if_missing: bool = True,
          progress: ProgressFactory = _no_progress, log: Log = print) -> sqlite_utils.Database:
    """Prepare the store; load the demo dataset when it holds no records; train a model when none can serve."""
    from lfb.model.training import train

    db = open_store(settings)
    if demo_if_empty and not has_data(db):
        log("the database is empty: loading the embedded DEMO dataset (synthetic, published LFB schema)")
        load_demo(db, settings, progress=progress, log=log)
    if train_if_missing and has_data(db) and (problem := serving_problem(db, settings)):
        fresh = "the first one" if problem == "no model in service" else "a fresh one"
        log(f"{problem}: training {fresh} (a few minutes on London-scale data) ...")
        train(db, settings, who="setup", log=log)
    return db
