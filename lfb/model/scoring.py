"""Score a model version on stored data or on a record file, with the same report as training."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlite_utils

from lfb.config import Settings
from lfb.model.dataset import TARGET, examples_from_file, load_examples
from lfb.model.evaluation import Baselines, evaluation_report, scored_frame
from lfb.model.registry import RegistryError, champion, load_version
from lfb.model.risk import flag_usefulness
from lfb.model.training import feature_table


def score_version(db: sqlite_utils.Database, settings: Settings, *, version: str | None = None,
                  file: Path | None = None, since: str | None = None) -> dict[str, Any]:
    """Return the evaluation report of a version (default: the champion) on a file or on stored data.

    Without a file or `since`, the report is the honest test-window report written at training time.
    """
    version = version or champion(db)
    if version is None:
        raise RegistryError("no champion yet: train a model with `python -m lfb train` or give --version")
    model, metadata = load_version(settings.models_dir, version)
    if file is None and since is None:
        return {"version": version, "source": f"test window {metadata['windows']['test_from']}.."
                f"{metadata['windows']['test_until']} (held out at training)", **metadata["evaluation"],
                "risk_usefulness": metadata.get("risk_usefulness")}
    examples = examples_from_file(Path(file), db) if file else load_examples(db, since=since)
    if examples.frame.empty:
        raise ValueError("no pump attendances to score" + (f" in {Path(file).name}" if file else f" since {since}"))
    table = feature_table(examples)
    scored = scored_frame(table, model.predict(table))
    report = evaluation_report(scored, Baselines.from_dict(metadata["baselines"]))
    seen = sorted(m for m in table["month"].unique() if m <= metadata["data_until"])
    source = f"file {Path(file).name}" if file else f"stored data since {since}"
    warning = (f"{len(seen)} of these months ({seen[0]}..{seen[-1]}) were in this model's training data: "
               "its figures there are not an honest test") if seen else ""
    return {"version": version, "source": source, "warning": warning, **report,
            "risk_usefulness": flag_usefulness(scored), "dropped": examples.dropped,
            "target": TARGET}
