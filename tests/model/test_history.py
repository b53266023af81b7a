"""The models' history for the admin console: statuses, figures, the promotions log's word, the rule's verdict."""
from __future__ import annotations

import json
import shutil

import pytest

from lfb.model import registry
from lfb.model.history import (CANDIDATE, CHAMPION, DAMAGED, FORMER, default_candidate, promotion_verdict,
                               version_history, version_report)

NOT_PROMOTED = {"promote": False, "text": "not promoted: MAE not lower by at least 1% (on 2024-07..2024-08)"}


def _copy(settings, db, version: str, tag: str, decision: dict | None = None) -> str:
    """Register a copy of a version under a new id, with another stored decision when given."""
    new = f"{version}-{tag}"
    shutil.copytree(settings.models_dir / version, settings.models_dir / new)
    meta = registry.read_metadata(settings.models_dir, new) | {"version": new, "created": f"2099-01-01 00:00:0{tag}"}
    if decision is not None:
        meta["decision"] = decision
    (settings.models_dir / new / "metadata.json").write_text(json.dumps(meta))
    registry.register(db, meta, settings.models_dir / new)
    return new


@pytest.fixture
def versions(trained_copy):
    """The trained champion v1, a candidate v2 the rule turned down (compared with v1), and v3 promoted by hand."""
    settings, db, result = trained_copy
    v1 = result.version
    v2 = _copy(settings, db, v1, "2", NOT_PROMOTED | {"champion": v1})
    v3 = _copy(settings, db, v1, "3")
    registry.set_champion(db, settings.models_dir, v3, who="chief", action="manual promote", reason="storm season")
    return settings, db, (v1, v2, v3)


def test_every_version_has_its_status_figures_and_the_log_s_word(versions):
    settings, db, (v1, v2, v3) = versions
    rows = {r["version"]: r for r in version_history(db, settings.models_dir)}
    assert [r["version"] for r in version_history(db, settings.models_dir)][:2] == [v3, v2]  # newest first
    assert (rows[v1]["status"], rows[v2]["status"], rows[v3]["status"]) == (FORMER, CANDIDATE, CHAMPION)
    assert (rows[v3]["changed_by"], rows[v3]["last_change"], rows[v3]["change_reason"]) == (
        "chief", "manual promote", "storm season")
    assert rows[v2]["changed_by"] == "" and rows[v2]["decision"] == NOT_PROMOTED["text"]
    meta = registry.read_metadata(settings.models_dir, v1)
    evaluation = meta["evaluation"]
    assert rows[v1]["mae"] == pytest.approx(evaluation["mae"])
    assert rows[v1]["distance_baseline_mae"] == evaluation["baselines"]["distance"]["mae"]
    assert rows[v1]["lift_vs_median"] == evaluation["lift"]["vs_median"]
    assert rows[v1]["train_seconds"] == meta["train_seconds"] and rows[v1]["is_demo"]
    assert rows[v1]["data"] == f"{meta['windows']['train_from']}..{meta['data_until']}"
    assert default_candidate(list(rows.values())) in (v2, v1)


def test_a_damaged_version_is_marked_and_never_the_default_candidate(versions):
    settings, db, (v1, v2, v3) = versions
    (settings.models_dir / v2 / "model-0.cbm").write_bytes(b"garbage")
    (settings.models_dir / v3 / "model.json").unlink()
    history = version_history(db, settings.models_dir)
    rows = {r["version"]: r for r in history}
    assert rows[v2]["status"] == DAMAGED and "damaged" in rows[v2]["problem"]
    assert rows[v3]["status"] == f"{CHAMPION} ({DAMAGED})"
    assert default_candidate(history) == v1


def test_the_report_holds_the_breakdowns_and_the_flag(versions):
    settings, _db, (v1, _v2, _v3) = versions
    report = version_report(settings.models_dir, v1)
    assert [m["month"] for m in report["by_month"]] == ["2024-07", "2024-08"]
    assert report["by_station"] and {"station_code", "mae", "n"} <= set(report["by_station"][0])
    assert {"flagged_share", "late_share_flagged", "late_share_unflagged"} <= set(report["flag"])


def test_the_verdict_is_the_rule_s_stored_decision_with_what_changed_since(versions):
    settings, db, (v1, v2, v3) = versions
    verdict = promotion_verdict(db, settings.models_dir, v2)
    assert verdict.can_promote and verdict.rule_promotes is False and verdict.text == NOT_PROMOTED["text"]
    assert verdict.note == f"the rule compared it with {v1}, which is no longer the champion (now {v3})"
    assert not promotion_verdict(db, settings.models_dir, v3).can_promote  # the champion already
    (settings.models_dir / v2 / "model-0.cbm").write_bytes(b"garbage")
    refused = promotion_verdict(db, settings.models_dir, v2)
    assert not refused.can_promote and "cannot serve: file model-0.cbm is damaged" in refused.text
