"""The models' history as the admin console shows it: every version with its figures, its status, the promotion
rule's verdict and what the promotions log says of it (no Streamlit here)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from lfb.model.registry import ModelFileError, champion, list_versions, promotions_log, read_metadata, version_problem

CHAMPION, CANDIDATE, FORMER, DAMAGED = "champion", "candidate", "former champion", "damaged"
LOG_LIMIT = 100_000  # the promotions log is a few rows a month: read it all


@dataclass(frozen=True)
class Verdict:
    """Whether a version may be promoted from the console, and the promotion rule's stored word on it."""

    version: str
    can_promote: bool
    rule_promotes: bool | None  # what the rule decided when the version was trained (None: no decision stored)
    text: str  # the rule's decision, or why the version cannot be promoted
    note: str = ""  # what changed since the rule decided (another champion), if anything


def _metadata(models_dir: Path, version: str) -> dict[str, Any]:
    """Return a version's metadata, or {} when its file is missing or unreadable."""
    try:
        return read_metadata(models_dir, version)
    except ModelFileError:
        return {}


def _status(row: dict[str, Any], served: set[str]) -> str:
    """Return a version's status: champion, damaged, former champion or candidate (never served)."""
    if row.get("damaged"):
        return f"{CHAMPION} ({DAMAGED})" if row["champion"] else DAMAGED
    if row["champion"]:
        return CHAMPION
    return FORMER if row["version"] in served else CANDIDATE


def _window(first: str | None, last: str | None) -> str:
    """Return a month window as text ('' when unknown)."""
    return f"{first}..{last}" if first and last else (first or last or "")


def version_history(db: sqlite_utils.Database, models_dir: Path) -> list[dict[str, Any]]:
    """Return every registered version, newest first, with its figures, status, decision and last promotion."""
    log = promotions_log(db, limit=LOG_LIMIT)  # newest first
    served = {entry["to_version"] for entry in log}
    out = []
    for row in list_versions(db, models_dir):
        evaluation = _metadata(models_dir, row["version"]).get("evaluation", {})
        baselines, lift = evaluation.get("baselines", {}), evaluation.get("lift", {})
        last = next((e for e in log if e["to_version"] == row["version"]), None)
        out.append({
            "version": row["version"], "created": row["created"], "status": _status(row, served),
            "data": _window(row["data_from"], row["data_until"]), "test_window": _window(row["test_from"],
                                                                                       row["test_until"]),
            "train_rows": row["train_rows"], "test_rows": row["test_rows"], "mae": row["mae"],
            "p90_coverage": row["p90_coverage"], "within_60s": evaluation.get("within_60s"),
            "median_baseline_mae": baselines.get("median", {}).get("mae"),
            "distance_baseline_mae": baselines.get("distance", {}).get("mae"),
            "lift_vs_distance": lift.get("vs_distance"), "lift_vs_median": lift.get("vs_median"),
            "train_seconds": row["train_seconds"], "is_demo": bool(row["is_demo"]), "decision": row["decision"] or "",
            "last_change": last["action"] if last else "", "changed_by": last["who"] if last else "",
            "changed_at": last["at"] if last else "", "change_reason": last["reason"] if last else "",
            "problem": row.get("damaged") or "",
        })
    return out


def version_report(models_dir: Path, version: str) -> dict[str, Any]:
    """Return what the console compares of one version: its test-window figures, breakdowns, flag and windows."""
    metadata = read_metadata(models_dir, version)
    evaluation = metadata.get("evaluation", {})
    return {"version": version, "is_demo": bool(metadata.get("is_demo")), "windows": metadata.get("windows", {}),
            "data_until": metadata.get("data_until"), "rows": metadata.get("rows", {}),
            "train_seconds": metadata.get("train_seconds"), "evaluation": evaluation,
            "by_month": evaluation.get("by_month", []), "by_station": evaluation.get("by_station", []),
            "flag": evaluation.get("flag", {}), "decision": metadata.get("decision", {})}


def default_candidate(history: list[dict[str, Any]]) -> str | None:
    """Return the version to compare with the champion by default: the newest that is not it and is not damaged."""
    return next((row["version"] for row in history if row["status"] in (CANDIDATE, FORMER)), None)


def promotion_verdict(db: sqlite_utils.Database, models_dir: Path, version: str) -> Verdict:
    """Return whether `version` may be promoted now, with the promotion rule's stored decision on it."""
    current = champion(db)
    if version == current:
        return Verdict(version, False, None, f"{version} is already the champion")
    problem = version_problem(db, models_dir, version)
    if problem:
        return Verdict(version, False, None, f"{version} cannot serve: {problem}")
    decision = _metadata(models_dir, version).get("decision") or {}
    if not decision:
        return Verdict(version, True, None, "no decision of the promotion rule is stored with this version")
    compared = decision.get("champion")
    note = (f"the rule compared it with {compared}, which is no longer the champion (now {current})"
            if compared and compared != current else "")
    return Verdict(version, True, bool(decision.get("promote")), str(decision.get("text") or ""), note)
