"""The requests table under hostile input: `submit` refuses unknown kinds and wrong-typed, huge or escaping arguments
naming them (nothing queued), and rows written straight into the table with garbage JSON or unknown kinds are closed
by the runner as failed with a clear outcome, by a running sidecar too, which goes on to the next request.
"""
from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
import time
from typing import Any

import pytest

from lfb.config import Settings
from lfb.model.estimator import ModelSettings
from lfb.service import requests
from lfb.service.requests import DONE, FAILED, PENDING, RequestRefused, check_request, get_job, list_jobs, submit
from lfb.service.runner import run_job
from lfb.service.scheduler import Sidecar
from tests.builders import FAST_MODEL
from tests.hostile.conftest import counts, tally
from tests.hostile.values import LONG, TEXTS

WRONG_TYPES: list[tuple[str, Any]] = [
    ("int", 5), ("float-nan", math.nan), ("bool", True), ("list", ["a"]), ("dict", {"a": 1}), ("huge", "x" * 100_000),
]
ARG_VALUES = [(name, value) for name, value in TEXTS if name != "empty"] + WRONG_TYPES


def _pending(settings: Settings) -> int:
    """Return how many requests wait."""
    return len(list_jobs(settings, limit=10_000, status=PENDING))


@pytest.mark.parametrize("name, kind", TEXTS + [("case", "TRAIN"), ("space", "train "), ("int", 3), ("none", None)],
                         ids=[n for n, _ in TEXTS] + ["case", "space", "int", "none"])
def test_an_unknown_kind_is_refused_naming_the_kinds(store: Settings, name: str, kind: Any) -> None:
    before = _pending(store)
    with pytest.raises(RequestRefused) as refused:
        submit(store, kind, {})
    tally("requests submit")
    assert "unknown request" in str(refused.value) and "use one of fetch, ingest" in str(refused.value)
    assert len(str(refused.value)) < 300 and _pending(store) == before


ARG_CASES = [(kind, arg, name, value) for kind, (required, optional) in requests.KINDS.items()
             for arg in required + optional for name, value in ARG_VALUES]


@pytest.mark.parametrize("kind, arg, name, value", ARG_CASES, ids=[f"{k} {a} {n}" for k, a, n, _ in ARG_CASES])
def test_a_hostile_argument_is_refused_naming_it_or_kept_as_text(store: Settings, kind: str, arg: str, name: str,
                                                                 value: Any) -> None:
    args = {arg: value} | {other: "v1" for other in requests.KINDS[kind][0] if other != arg}
    tally("requests submit")
    try:
        clean = check_request(kind, args)
    except RequestRefused as exc:
        words = str(exc)
        assert arg in words and len(words) < 400, words
        assert any(hint in words for hint in ("give", "remove")), words
        return
    # what is accepted is a line of text (a path, version or reason the job then checks) or a month count
    assert arg not in ("until", "since"), f"{arg}={value!r} accepted"
    if arg == "test_months":  # a whole number (5, or '12345' cut to no more than the limit) is one
        assert isinstance(clean[arg], int) and 1 <= clean[arg] <= requests.MAX_TEST_MONTHS, clean
        return
    assert isinstance(clean[arg], str) and len(clean[arg]) <= requests.MAX_ARG_CHARS and "\x00" not in clean[arg]


@pytest.mark.parametrize("path", ["../../etc/passwd", "uploads/../../x.csv", "..", "a/../../b.csv"])
def test_an_ingest_path_that_leaves_the_data_folder_is_refused(store: Settings, path: str) -> None:
    before = _pending(store)
    with pytest.raises(RequestRefused, match="leaves the data folder: give an absolute path"):
        submit(store, "ingest", {"path": path})
    tally("requests submit")
    assert _pending(store) == before


def test_unknown_and_missing_arguments_are_named(store: Settings) -> None:
    with pytest.raises(RequestRefused, match="a fetch request takes no path .*: remove path"):
        check_request("fetch", {"path": "x.csv"})
    with pytest.raises(RequestRefused, match="a promote request needs version: give it"):
        check_request("promote", {"version": "  "[:0]})
    tally("requests submit", lost=0)
    tally("requests submit", lost=0)


# Rows written straight into the jobs table, as a bug or a hand edit could leave them: (id, kind, args_json, outcome)
GARBAGE: list[tuple[str, str, str, str]] = [
    ("not-json", "train", "{not json", "not readable"),
    ("json-list", "train", "[1, 2]", "not readable"),
    ("json-null", "train", "null", "not readable"),
    ("json-text", "evaluate", '"since"', "not readable"),
    ("empty-text", "train", "", None),  # '' reads as no arguments: a real training, so left out below
    ("unknown-kind", "nuke", "{}", "unknown request 'nuke'"),
    ("empty-kind", "", "{}", "unknown request ''"),
    ("script-kind", "<script>alert(1)</script>", "{}", "unknown request"),
    ("long-kind", LONG, "{}", "unknown request"),
    ("escaping-path", "ingest", json.dumps({"path": "../../etc/passwd"}), "leaves the data folder"),
    ("path-int", "ingest", json.dumps({"path": 5}), "path '5' is not a line of text"),
    ("system-file", "ingest", json.dumps({"path": "/etc/hostname"}), "not ingested"),
    ("folder", "ingest", json.dumps({"path": "/tmp"}), "a folder, not a file"),
    ("huge-path", "ingest", json.dumps({"path": "x" * 100_000}), "is not a line of text"),
    ("months-word", "train", json.dumps({"test_months": "abc"}), "test_months 'abc' is not a whole number"),
    ("months-list", "train", json.dumps({"test_months": [3]}), "test_months"),
    ("until-int", "train", json.dumps({"until": 202405}), "until '202405' is not a line of text"),
    ("until-words", "train", json.dumps({"until": "last may"}), "until 'last may' is not a month"),
    ("version-list", "promote", json.dumps({"version": ["v1"]}), "version"),
    ("version-unknown", "promote", json.dumps({"version": "<b>v0</b>"}), "there is no model version"),
    ("extra-arg", "fetch", json.dumps({"rm": "-rf"}), "takes no rm"),
    ("missing-arg", "ingest", "{}", "needs path"),
]
GARBAGE = [g for g in GARBAGE if g[3] is not None]


def _insert(settings: Settings, kind: str, args_json: str) -> int:
    """Write one pending row straight into the jobs table; return its id."""
    with contextlib.closing(sqlite3.connect(settings.service_db_path)) as db, db:
        return int(db.execute("INSERT INTO jobs (kind, args_json, requested_by, requested_at, status) VALUES "
                              "(?, ?, 'hand-edit', '2024-01-01 00:00:00', ?)", [kind, args_json, PENDING]).lastrowid)


def _claim(settings: Settings, job_id: int) -> dict[str, Any]:
    """Mark one row running, as the sidecar's claim does, and return it read back."""
    with contextlib.closing(sqlite3.connect(settings.service_db_path)) as db, db:
        db.execute("UPDATE jobs SET status = 'running', started = '2024-01-01 00:00:01' WHERE id = ?", [job_id])
    return get_job(settings, job_id)


@pytest.mark.parametrize("kind, args_json, expected", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_a_garbage_row_fails_with_a_clear_outcome(store: Settings, kind: str, args_json: str, expected: str) -> None:
    before = counts(store)
    job_id = _insert(store, kind, args_json)
    job = _claim(store, job_id)
    result = run_job(store, job, log=lambda _line: None)
    closed = get_job(store, job_id)
    lost = before.lost(counts(store))
    tally("requests runner (garbage rows)", closed["outcome"] or "", lost)
    assert not result.ok and closed["status"] == FAILED, closed["outcome"]
    assert expected in closed["outcome"] and "unexpected" not in closed["outcome"], closed["outcome"]
    assert len(closed["outcome"]) < 500 and "Traceback" not in (closed["log"] or "")
    assert lost == 0 and counts(store).champion == before.champion
    assert any(j["id"] == job_id for j in list_jobs(store, limit=10_000))  # the list still reads


def test_a_running_sidecar_fails_every_garbage_row_and_then_runs_a_good_request(store: Settings) -> None:
    before = counts(store)
    ids = [_insert(store, kind, args_json) for _, kind, args_json, _ in GARBAGE]
    good = submit(store, "evaluate", {}, who="chief")
    sidecar = Sidecar(store, echo=lambda _line: None, model_settings=ModelSettings(**FAST_MODEL))
    thread = threading.Thread(target=sidecar.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while get_job(store, good)["status"] not in (DONE, FAILED):
            assert time.monotonic() < deadline and thread.is_alive(), "the sidecar stopped or hung"
            time.sleep(0.05)
    finally:
        sidecar.stop("the test is over")
        thread.join(timeout=30)
    outcomes = {job_id: get_job(store, job_id) for job_id in ids}
    for (name, _, _, expected), job_id in zip(GARBAGE, ids):
        tally("requests sidecar loop", outcomes[job_id]["outcome"] or "")
        job = outcomes[job_id]
        assert job["status"] == FAILED and expected in job["outcome"], (name, job)
    assert get_job(store, good)["status"] == DONE, get_job(store, good)["outcome"]
    assert before.lost(counts(store)) == 0 and not thread.is_alive()
