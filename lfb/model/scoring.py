"""Score a model version on stored data or on a record file, with the same report as training."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import sqlite_utils

from lfb.config import Settings
from lfb.model.dataset import TARGET, Examples, examples_from_file, load_examples
from lfb.model.evaluation import Baselines, evaluation_report, scored_frame
from lfb.model.registry import (ModelFileError, NoChampion, RegistryError, Serving, load_registered,
                                load_serving)
from lfb.model.flag import served_figures
from lfb.model.risk import flag_usefulness
from lfb.model.serving import FUTURE_LIMIT_DAYS, PAST_LIMIT_DAYS
from lfb.model.training import feature_table


NO_FLAG_FIGURES = {"note": "this version was trained before the flag's figures were measured at training; "
                           "score it on data with --since or a file to measure its flag"}


def version_to_score(db: sqlite_utils.Database, settings: Settings, version: str | None = None) -> Serving:
    """Load the given version, or the champion (falling back, like serving, when its files are damaged)."""
    if version:
        try:
            return Serving(version, *load_registered(db, settings.models_dir, version), "")
        except ModelFileError as exc:
            raise ModelFileError(version, f"{exc.problem}; it cannot be evaluated: choose a version that loads "
                                          "(`python -m lfb models list`)") from None
    try:
        return load_serving(db, settings.models_dir)
    except NoChampion:
        raise RegistryError("no champion yet: train a model with `python -m lfb train` or give --version") from None


def far_time_reason(time_range: list[str]) -> str:
    """Return the reason given for leaving out rows far outside the model's data."""
    first, last = (pd.Timestamp(t) for t in time_range)
    return f"time far outside the data this model learned from ({first:%Y-%m-%d} to {last:%Y-%m-%d})"


def within_model_time(examples: Examples, time_range: list[str]) -> Examples:
    """Leave out, and count, the examples whose time is far outside the model's data (predict refuses those)."""
    first, last = (pd.Timestamp(t) for t in time_range)
    when = examples.frame["when"]
    far = (when < first - pd.Timedelta(days=PAST_LIMIT_DAYS)) | (when > last + pd.Timedelta(days=FUTURE_LIMIT_DAYS))
    return Examples(examples.frame[~far].reset_index(drop=True),
                    {**examples.dropped, far_time_reason(time_range): int(far.sum())})


def training_overlap(months: list[str], metadata: dict[str, Any]) -> str:
    """Return a warning naming the scored months that were in the model's training data ('' if none)."""
    seen = sorted(m for m in set(months) if metadata["windows"]["train_from"] <= m <= metadata["data_until"])
    return (f"{len(seen)} of these months ({seen[0]}..{seen[-1]}) were in this model's training data: "
            "its figures there are not an honest test") if seen else ""


def score_version(db: sqlite_utils.Database, settings: Settings, *, version: str | None = None,
                  file: Path | None = None, since: str | None = None) -> dict[str, Any]:
    """Return the evaluation report of a version (default: the champion) on a file or on stored data.

    Without a file or `since`, the report is the honest test-window report written at training time. The `flag`
    figures are those of the flag as this version serves it.
    """
    loaded = version_to_score(db, settings, version)
    metadata = loaded.metadata
    if file is None and since is None:
        return {"version": loaded.version, "fallback": loaded.warning, "source": f"test window "
                f"{metadata['windows']['test_from']}..{metadata['windows']['test_until']} (held out at training)",
                "flag": NO_FLAG_FIGURES, **metadata["evaluation"], "risk_usefulness": metadata.get("risk_usefulness")}
    where = f" in {Path(file).name}" if file else f" since {since}"
    examples = examples_from_file(Path(file), db) if file else load_examples(db, since=since)
    if examples.frame.empty:
        raise ValueError("no pump attendances to score" + where + (": give a file of LFB incident or mobilisation records "
                         "with attendance times" if file else ": give an earlier --since month"))
    kept = within_model_time(examples, metadata["time_range"])
    if kept.frame.empty:
        raise ValueError(f"no pump attendances to score{where}: all {len(examples.frame):,} are "
                         f"{far_time_reason(metadata['time_range'])}; score a model trained on data nearer to them")
    table = feature_table(kept)
    prediction = loaded.model.predict(table)
    scored = scored_frame(table, prediction)
    report = evaluation_report(scored, Baselines.from_dict(metadata["baselines"]))
    report["flag"] = served_figures(metadata.get("flag_rule"), metadata.get("risks", {}), table, prediction,
                                    table[TARGET].to_numpy(float))
    source = f"file {Path(file).name}" if file else f"stored data since {since}"
    return {"version": loaded.version, "fallback": loaded.warning, "source": source,
            "warning": training_overlap(list(table["month"].unique()), metadata), **report,
            "risk_usefulness": flag_usefulness(scored), "dropped": kept.dropped, "target": TARGET}
