"""The model registry: immutable versions in models/<version>/, a champion alias, an append-only promotions log."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import sqlite_utils

from lfb.model.estimator import ResponseModel
from lfb.data.store import transaction
from lfb.text import quoted

CHAMPION = "champion"
METADATA = "metadata.json"
ORPHANS = ".orphans"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to...)."""


class ModelFileError(RegistryError):
    """A model version whose files are missing or damaged."""

    def __init__(self, version: str, problem: str):
        super().__init__(f"model {version}: {problem}")
        self.version, self.problem = version, problem


class NoChampion(RegistryError):
    """No version has been put into service yet."""


class NothingServes(RegistryError):
    """There is a champion, but neither it nor any champion below it on the rollback stack can load."""

    def __init__(self, problems: list[str]):
        super().__init__("no model can serve: " + "; ".join(problems) + "; train a new one with "
                         "`python -m lfb train`")
        self.problems = problems


class Serving(NamedTuple):
    """The version that serves: the champion, or the nearest one below it that loads (with a warning)."""

    version: str
    model: ResponseModel
    metadata: dict[str, Any]
    warning: str


class Rollback(NamedTuple):
    """A rollback done: the version now in service, and the damaged versions skipped on the way."""

    version: str
    skipped: list[str]


_NUMBER = (int, float)
_METRIC = (int, float, type(None))  # a metric is None when it cannot be computed (no rows, no variance)
_METRIC_KEYS = ("n", "mae", "rmse", "r2", "median_ae", "within_60s", "over_360_accuracy", "p90_coverage")
# What the code reads from metadata.json without a default (serving, `models show`, `evaluate`, the promotion
# rule, `register`): dotted path -> accepted types. Anything else in the metadata is optional.
METADATA_SCHEMA: dict[str, tuple[type, ...]] = {
    "version": (str,), "created": (str,), "features": (list,), "categories": (dict,), "time_range": (list,),
    "windows": (dict,), "windows.train_from": (str,), "windows.test_from": (str,), "windows.test_until": (str,),
    "data_until": (str,), "train_seconds": _NUMBER,
    "evaluation": (dict,), **{f"evaluation.{k}": _METRIC for k in _METRIC_KEYS},
    "evaluation.baselines": (dict,),
    **{f"evaluation.baselines.{b}.{k}": _METRIC for b in ("median", "distance") for k in _METRIC_KEYS},
    "evaluation.lift": (dict,), "evaluation.lift.vs_median": _METRIC, "evaluation.lift.vs_distance": _METRIC,
    "evaluation.by_month": (list,), "evaluation.by_pump_order": (list,),
    "baselines": (dict,), "baselines.median_s": _NUMBER, "baselines.p90_s": _NUMBER,
    "baselines.distance_median": (dict,), "baselines.distance_p90": (dict,),
    "risks": (dict,), "risks.groups": (list,),
    "files": (dict,),
}
_MISSING = object()


def _now() -> str:
    """Return the current UTC time as ISO text."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _sha256(path: Path) -> str:
    """Return the SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_version_id(models_dir: Path) -> str:
    """Return a new, unused version id (UTC time based)."""
    base = "v" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    version, n = base, 1
    while (models_dir / version).exists():
        n += 1
        version = f"{base}-{n}"
    return version


def save_version(models_dir: Path, version: str, model: ResponseModel, metadata: dict[str, Any]) -> Path:
    """Write a version's files into a scratch folder, then move it into place in one step."""
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / version
    scratch = models_dir / f".incoming-{version}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        files = model.save(scratch)
        metadata = {**metadata, "version": version,
                    "files": {name: _sha256(scratch / name) for name in sorted(files)}}
        (scratch / METADATA).write_text(json.dumps(metadata, indent=2, default=str))
        os.replace(scratch, final)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return final


def clean_strays(db: sqlite_utils.Database, models_dir: Path, log=print) -> list[str]:
    """Tidy what a killed training left behind: delete scratch folders, set aside version folders never registered.

    Unregistered version folders are moved to models/.orphans/ rather than deleted (they may belong to another
    database pointed at the same folder). Call this only while holding the train lock, so that no running training
    is between saving a version and registering it.
    """
    if not models_dir.is_dir():
        return []
    registered = {row[0] for row in db.execute("SELECT version FROM model_versions")}
    removed = []
    for path in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        if path.name.startswith(".incoming-"):
            shutil.rmtree(path, ignore_errors=True)
            log(f"removed {path}, the scratch folder of an interrupted training")
        elif path.name.startswith("v") and path.name not in registered:
            orphans = models_dir / ORPHANS
            orphans.mkdir(exist_ok=True)
            target = orphans / path.name
            while target.exists():
                target = target.with_name(target.name + "-again")
            os.replace(path, target)
            log(f"moved {path.name} (a model folder no version is registered for: its training was interrupted "
                f"before registering it) to {orphans}; delete it when you no longer need it")
        else:
            continue
        removed.append(path.name)
    return removed


def read_metadata(models_dir: Path, version: str) -> dict[str, Any]:
    """Return a version's metadata as written, or raise ModelFileError if it is missing or not JSON."""
    path = models_dir / version / METADATA
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(version, f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(version, f"{path} is unreadable ({exc})") from None
    if not isinstance(metadata, dict):
        raise ModelFileError(version, f"{path} is not a JSON object")
    return metadata


def _lookup(metadata: dict[str, Any], dotted: str) -> Any:
    """Return the value at a dotted path of nested dicts, or _MISSING."""
    value: Any = metadata
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _time_range_problem(value: Any) -> str:
    """Return what is wrong with a time_range value ('' if it is two times, as serving reads them)."""
    try:
        first, last = (pd.Timestamp(v) if isinstance(v, str) else pd.NaT for v in value)
        if pd.isna(first) or pd.isna(last):
            return "time_range should be two times"
        in_order = first <= last
    except (TypeError, ValueError):
        return "time_range should be two times (without time zones)"
    return "" if in_order else "time_range should be two times, the first one first"


def metadata_problems(metadata: dict[str, Any]) -> list[str]:
    """Return what the metadata lacks against METADATA_SCHEMA (empty when complete)."""
    missing, wrong, named = [], [], []
    for dotted, types in METADATA_SCHEMA.items():
        if any(dotted.startswith(f"{parent}.") for parent in named):
            continue  # its parent is already named
        value = _lookup(metadata, dotted)
        if value is _MISSING:
            missing.append(dotted)
        elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wrong.append(f"{dotted} should be {' or '.join(t.__name__ for t in types)}")
        else:
            continue
        named.append(dotted)
    problems = [f"missing {', '.join(missing)}"] if missing else []
    if "time_range" not in named and (bad := _time_range_problem(metadata["time_range"])):
        wrong.append(bad)
    files = metadata.get("files")
    if isinstance(files, dict) and not (files and all(isinstance(d, str) for d in files.values())):
        wrong.append("files should hold a checksum for each model file")
    return problems + wrong


def checked_metadata(models_dir: Path, version: str, metadata_sha256: str | None = None) -> dict[str, Any]:
    """Return a version's metadata after checking it is complete and, when known, unchanged since registration."""
    metadata = read_metadata(models_dir, version)
    problems = metadata_problems(metadata)
    if problems:
        raise ModelFileError(version, f"{METADATA} is incomplete: {'; '.join(problems)}")
    if metadata_sha256 and _sha256(models_dir / version / METADATA) != metadata_sha256:
        raise ModelFileError(version, f"{METADATA} has changed since it was registered (its checksum does not "
                                      "match the one kept in the database)")
    if metadata["version"] != version:
        raise ModelFileError(version, f"{METADATA} describes version {metadata['version']!r}")
    return metadata


def check_files(models_dir: Path, version: str, metadata: dict[str, Any]) -> None:
    """Check every model file against its checksum, and that no model file in the folder lacks one."""
    folder = models_dir / version
    for name, digest in metadata["files"].items():
        path = folder / name
        if not path.is_file():
            raise ModelFileError(version, f"file {name} is missing from {folder}")
        if _sha256(path) != digest:
            raise ModelFileError(version, f"file {name} is damaged (its checksum does not match)")
    unlisted = sorted({"model.json", *(p.name for p in folder.glob("*.cbm"))} - set(metadata["files"]))
    if unlisted:
        raise ModelFileError(version, f"file {', '.join(unlisted)} has no checksum in {METADATA}")


def load_version(models_dir: Path, version: str, metadata_sha256: str | None = None
                 ) -> tuple[ResponseModel, dict[str, Any]]:
    """Load a version after checking its metadata and every file against the checksums it holds."""
    metadata = checked_metadata(models_dir, version, metadata_sha256)
    check_files(models_dir, version, metadata)
    try:
        return ResponseModel.load(models_dir / version), metadata
    except Exception as exc:  # noqa: BLE001 - CatBoost raises its own error types for bad files
        raise ModelFileError(version, f"cannot be loaded ({type(exc).__name__}: {exc})") from None


def metadata_checksum(db: sqlite_utils.Database, version: str) -> str | None:
    """Return the metadata checksum kept for a registered version (None if registered before schema v4)."""
    row = db.execute("SELECT metadata_sha256 FROM model_versions WHERE version = ?", [version]).fetchone()
    if row is None:
        raise RegistryError(f"unknown model version {quoted(version)}; see `python -m lfb models list`")
    return row[0]


def load_registered(db: sqlite_utils.Database, models_dir: Path, version: str) -> tuple[ResponseModel, dict[str, Any]]:
    """Load a registered version, checking its metadata against the checksum kept in the database."""
    return load_version(models_dir, version, metadata_checksum(db, version))


def version_problem(db: sqlite_utils.Database, models_dir: Path, version: str) -> str | None:
    """Return why a registered version cannot serve (its metadata or files), or None if they check out."""
    try:
        metadata = checked_metadata(models_dir, version, metadata_checksum(db, version))
        check_files(models_dir, version, metadata)
    except ModelFileError as exc:
        return exc.problem
    return None


def register(db: sqlite_utils.Database, metadata: dict[str, Any], path: Path, *,
             promote: tuple[str, str] | None = None) -> None:
    """Record a saved version (its figures, the promotion decision, its metadata's checksum) in model_versions; with
    `promote` (who, reason), put it into service in the same transaction, so that a process killed in between cannot
    leave a version the rule promoted registered but not serving (the caller has checked its files)."""
    test = metadata.get("evaluation", {})
    checksum = _sha256(Path(path) / METADATA)
    windows = metadata.get("windows", {})
    decision = metadata.get("decision", {})
    with transaction(db):
        db.execute(
            "INSERT INTO model_versions (version, created, path, data_from, data_until, test_from, test_until, "
            "train_rows, test_rows, mae, p90_coverage, lift_vs_distance, is_demo, train_seconds, decision, "
            "decision_json, metadata_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [metadata["version"], metadata["created"], str(path), windows.get("train_from"),
             metadata.get("data_until"), windows.get("test_from"), windows.get("test_until"),
             metadata.get("rows", {}).get("train"), test.get("n"), test.get("mae"), test.get("p90_coverage"),
             test.get("lift", {}).get("vs_distance"), int(bool(metadata.get("is_demo"))),
             metadata.get("train_seconds"), decision.get("text"), json.dumps(decision, default=str),
             checksum])
        if promote is not None:
            _point_champion(db, metadata["version"], who=promote[0], action="promote", reason=promote[1])


def champion(db: sqlite_utils.Database) -> str | None:
    """Return the version in service, or None."""
    row = db.execute("SELECT version FROM aliases WHERE name = ?", [CHAMPION]).fetchone()
    return None if row is None else row[0]


def version_exists(db: sqlite_utils.Database, version: str) -> bool:
    """Return True if the version is registered."""
    return db.execute("SELECT 1 FROM model_versions WHERE version = ?", [version]).fetchone() is not None


def set_champion(db: sqlite_utils.Database, models_dir: Path, version: str, *, who: str, action: str,
                 reason: str) -> str | None:
    """Point the champion alias at `version` (after checking its files) and log it; return the previous one."""
    try:
        load_registered(db, models_dir, version)  # refuse unknown versions and damaged ones
    except ModelFileError as exc:
        raise ModelFileError(version, f"{exc.problem}; it is not put into service (`python -m lfb models list` "
                                      "shows the versions that load)") from None
    with transaction(db):
        return _point_champion(db, version, who=who, action=action, reason=reason)


def _point_champion(db: sqlite_utils.Database, version: str, *, who: str, action: str, reason: str) -> str | None:
    """Point the champion alias at `version` and log it, inside the caller's transaction; return the previous one."""
    previous = champion(db)
    if previous == version:
        raise RegistryError(f"{version} is already the champion: give another version (see `python -m lfb models list`)")
    db.execute("INSERT INTO aliases (name, version, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
               "version = excluded.version, updated = excluded.updated", [CHAMPION, version, _now()])
    db.execute("INSERT INTO promotions (at, who, action, from_version, to_version, reason) "
               "VALUES (?, ?, ?, ?, ?, ?)", [_now(), who, action, previous, version, reason])
    return previous


def rollback_stack(db: sqlite_utils.Database) -> list[str]:
    """Return the champions as a stack replayed from the promotions log (promotions push, rollbacks pop), top last."""
    stack: list[str] = []
    for action, to_version in db.execute("SELECT action, to_version FROM promotions ORDER BY id"):
        if action == "rollback" and to_version in stack:
            del stack[len(stack) - stack[::-1].index(to_version):]
        else:  # a promotion (or a rollback logged before this rule, to a version no longer on the stack)
            stack.append(to_version)
    return stack


def fallback_order(db: sqlite_utils.Database) -> list[str]:
    """Return the versions that may serve, in order: the champion, then the champions below it on the stack."""
    current = champion(db)
    order = [] if current is None else [current]
    for version in reversed(rollback_stack(db)):
        if version not in order:
            order.append(version)
    return order


def load_serving(db: sqlite_utils.Database, models_dir: Path) -> Serving:
    """Load the champion, or, if its files are damaged, the nearest champion below it that loads."""
    order = fallback_order(db)
    if not order:
        raise NoChampion("no model in service yet: train one with `python -m lfb train`")
    problems = []
    for version in order:
        try:
            model, metadata = load_registered(db, models_dir, version)
        except ModelFileError as exc:
            problems.append(exc)
            continue
        warning = "" if version == order[0] else (
            f"the champion {order[0]} cannot be loaded ({problems[0].problem}); falling back to the previous "
            f"champion {version}")
        return Serving(version, model, metadata, warning)
    raise NothingServes([str(p) for p in problems])


def rollback_target(db: sqlite_utils.Database, models_dir: Path) -> Rollback:
    """Return the version a rollback would put back in service now (and the damaged ones it would skip), changing
    nothing; raise RegistryError when there is none."""
    order = fallback_order(db)
    if len(order) < 2:
        raise RegistryError("nothing to roll back to: " + ("no model has served yet" if not order else
                                                           f"{order[0]} is the first champion in the promotions log")
                            + "; see `python -m lfb models list`")
    skipped = []
    for target in order[1:]:
        problem = version_problem(db, models_dir, target)
        if problem:
            skipped.append(f"model {target}: {problem}")
            continue
        return Rollback(target, skipped)
    raise RegistryError(f"nothing to roll back to that loads: {'; '.join(skipped)}; train a new model with "
                        "`python -m lfb train`")


def rollback(db: sqlite_utils.Database, models_dir: Path, *, who: str, reason: str = "rollback") -> Rollback:
    """Put back in service the champion that served before the current one (skipping damaged ones); return it."""
    target = rollback_target(db, models_dir)
    note = f" (skipped {'; '.join(target.skipped)})" if target.skipped else ""
    set_champion(db, models_dir, target.version, who=who, action="rollback", reason=reason + note)
    return target


def list_versions(db: sqlite_utils.Database, models_dir: Path | None = None) -> list[dict[str, Any]]:
    """Return every registered version, newest first, marking the champion (and, given models_dir, damage)."""
    current = champion(db)
    cols = ["version", "created", "data_from", "data_until", "test_from", "test_until", "train_rows", "test_rows",
            "mae", "p90_coverage", "lift_vs_distance", "is_demo", "train_seconds", "decision"]
    rows = db.execute(f"SELECT {', '.join(cols)} FROM model_versions ORDER BY created DESC, version DESC")
    out = [dict(zip(cols, r)) | {"champion": r[0] == current} for r in rows]
    if models_dir is not None:
        for row in out:
            row["damaged"] = version_problem(db, models_dir, row["version"])
    return out


def promotions_log(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, Any]]:
    """Return the latest champion changes, newest first."""
    cols = ["id", "at", "who", "action", "from_version", "to_version", "reason"]
    rows = db.execute(f"SELECT {', '.join(cols)} FROM promotions ORDER BY id DESC LIMIT ?", [limit])
    return [dict(zip(cols, r)) for r in rows]
