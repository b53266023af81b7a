"""How far off the model in service has been at each station, and which stations its flag rule marks.

Both come from the version's metadata: the honest test-window report (`evaluation.by_station`, stations with at
least 20 test pumps) and the risk list found on that window (`risks.groups`, levels `station` and
`station_band`). Nothing is recomputed here.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ("test_pumps", "mae_s", "bias_s", "flagged", "flag_scope", "flag_text")


def _flags(risks: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return the flagged groups of each station code."""
    by_station: dict[str, list[dict[str, Any]]] = {}
    for group in risks.get("groups", []):
        if group.get("level") not in ("station", "station_band"):
            continue
        code = str(group.get("key", "")).split(" | ")[0].strip()
        if code:
            by_station.setdefault(code, []).append(group)
    return by_station


def _flag_words(groups: list[dict[str, Any]]) -> tuple[str, str]:
    """Return the scope ('all day' or the time bands) and a sentence for one station's flagged groups."""
    whole = [g for g in groups if g.get("level") == "station"]
    bands = sorted(str(g["key"]).split(" | ", 1)[1] for g in groups if g.get("level") == "station_band")
    scope = "all day" if whole else ", ".join(bands)
    worst = max(groups, key=lambda g: g.get("late_share", 0.0))
    text = (f"{worst.get('late_share', 0):.0%} of {worst.get('rows', 0)} test pumps arrived over a minute later than "
            f"estimated ({scope})")
    return scope, text


def station_errors(metadata: dict[str, Any]) -> pd.DataFrame:
    """Return, per station code, the test pumps, MAE, bias (actual - median) and flag marks of a model version.

    Stations absent from the test report have no MAE; versions trained before bias was reported have no bias.
    """
    report = {str(r["station_code"]): r for r in metadata.get("evaluation", {}).get("by_station", [])}
    flags = _flags(metadata.get("risks", {}))
    rows = []
    for code in sorted(set(report) | set(flags)):
        r = report.get(code, {})
        scope, text = _flag_words(flags[code]) if code in flags else ("", "")
        rows.append({"station_code": code, "test_pumps": int(r.get("n") or 0),
                     "mae_s": r.get("mae") if r.get("mae") is not None else np.nan,
                     "bias_s": r.get("bias") if r.get("bias") is not None else np.nan,
                     "flagged": code in flags, "flag_scope": scope, "flag_text": text})
    frame = pd.DataFrame(rows, columns=("station_code",) + COLUMNS).set_index("station_code")
    return frame.astype({"test_pumps": int, "mae_s": float, "bias_s": float, "flagged": bool})


def flag_in_service(metadata: dict[str, Any]) -> tuple[bool, str]:
    """Return whether the version's flag is in service, and why (as recorded when it was trained)."""
    risks = metadata.get("risks", {})
    active = bool(risks.get("active", True))
    return active, str(risks.get("active_reason", "in service" if active else "not in service"))


def with_errors(table: pd.DataFrame, metadata: dict[str, Any] | None) -> pd.DataFrame:
    """Return a table of stations (column station_code) with the model's errors and flag marks joined to it.

    Without a model (None) the error columns are empty and no station is flagged.
    """
    joined = table.join(station_errors(metadata or {}), on="station_code")
    joined["test_pumps"] = joined["test_pumps"].fillna(0).astype(int)
    joined["flagged"] = joined["flagged"].fillna(False).astype(bool)
    joined[["flag_scope", "flag_text"]] = joined[["flag_scope", "flag_text"]].fillna("")
    return joined
