"""The model registry: immutable versions in models/<version>/, a champion alias, an append-only promotions log."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import sqlite_utils

from lfb.model.estimator import ResponseModel
from lfb.data.store import transaction

CHAMPION = "champion"
METADATA = "metadata.json"
ORPHANS = ".orphans"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to...)."""


class ModelFileError(RegistryError):
    """A model version whose files are missing or damaged."""


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
    """Return a version's metadata, or raise ModelFileError if it is missing or unreadable."""
    path = models_dir / version / METADATA
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"model {version}: {path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"model {version}: {path} is unreadable ({exc})") from None


def load_version(models_dir: Path, version: str) -> tuple[ResponseModel, dict[str, Any]]:
    """Load a version after checking every file against the hashes in its metadata."""
    metadata = read_metadata(models_dir, version)
    folder = models_dir / version
    for name, digest in metadata.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"model {version}: file {name} is missing from {folder}")
        if _sha256(path) != digest:
            raise ModelFileError(f"model {version}: file {name} is damaged (its checksum does not match)")
    try:
        return ResponseModel.load(folder), metadata
    except Exception as exc:  # noqa: BLE001 - CatBoost raises its own error types for bad files
        raise ModelFileError(f"model {version}: cannot be loaded ({type(exc).__name__}: {exc})") from None


def register(db: sqlite_utils.Database, metadata: dict[str, Any], path: Path) -> None:
    """Record a saved version (its figures and the promotion decision) in the model_versions table."""
    test = metadata.get("evaluation", {})
    windows = metadata.get("windows", {})
    decision = metadata.get("decision", {})
    with transaction(db):
        db.execute(
            "INSERT INTO model_versions (version, created, path, data_from, data_until, test_from, test_until, "
            "train_rows, test_rows, mae, p90_coverage, lift_vs_distance, is_demo, train_seconds, decision, "
            "decision_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [metadata["version"], metadata["created"], str(path), windows.get("train_from"),
             metadata.get("data_until"), windows.get("test_from"), windows.get("test_until"),
             metadata.get("rows", {}).get("train"), test.get("n"), test.get("mae"), test.get("p90_coverage"),
             test.get("lift", {}).get("vs_distance"), int(bool(metadata.get("is_demo"))),
             metadata.get("train_seconds"), decision.get("text"), json.dumps(decision, default=str)])


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
    if not version_exists(db, version):
        raise RegistryError(f"unknown model version {version!r}; see `python -m lfb models list`")
    load_version(models_dir, version)  # refuse to serve a version whose files are missing or damaged
    with transaction(db):
        previous = champion(db)
        if previous == version:
            raise RegistryError(f"{version} is already the champion")
        db.execute("INSERT INTO aliases (name, version, updated) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                   "version = excluded.version, updated = excluded.updated", [CHAMPION, version, _now()])
        db.execute("INSERT INTO promotions (at, who, action, from_version, to_version, reason) "
                   "VALUES (?, ?, ?, ?, ?, ?)", [_now(), who, action, previous, version, reason])
    return previous


def previous_champion(db: sqlite_utils.Database) -> str | None:
    """Return the version that was champion before the current one."""
    current = champion(db)
    row = db.execute("SELECT from_version FROM promotions WHERE to_version = ? ORDER BY id DESC LIMIT 1",
                     [current]).fetchone()
    return None if row is None else row[0]


def rollback(db: sqlite_utils.Database, models_dir: Path, *, who: str, reason: str = "rollback") -> str:
    """Put the previous champion back in service (one step); return it."""
    target = previous_champion(db)
    if target is None:
        raise RegistryError("nothing to roll back to: the champion has no predecessor")
    set_champion(db, models_dir, target, who=who, action="rollback", reason=reason)
    return target


def champion_history(db: sqlite_utils.Database) -> list[str]:
    """Return the versions that have served, most recent first (without repeats)."""
    seen: list[str] = []
    for (version,) in db.execute("SELECT to_version FROM promotions ORDER BY id DESC"):
        if version not in seen:
            seen.append(version)
    return seen


def list_versions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return every registered version, newest first, marking the champion."""
    current = champion(db)
    cols = ["version", "created", "data_from", "data_until", "test_from", "test_until", "train_rows", "test_rows",
            "mae", "p90_coverage", "lift_vs_distance", "is_demo", "train_seconds", "decision"]
    rows = db.execute(f"SELECT {', '.join(cols)} FROM model_versions ORDER BY created DESC, version DESC")
    return [dict(zip(cols, r)) | {"champion": r[0] == current} for r in rows]


def promotions_log(db: sqlite_utils.Database, limit: int = 50) -> list[dict[str, Any]]:
    """Return the latest champion changes, newest first."""
    cols = ["id", "at", "who", "action", "from_version", "to_version", "reason"]
    rows = db.execute(f"SELECT {', '.join(cols)} FROM promotions ORDER BY id DESC LIMIT ?", [limit])
    return [dict(zip(cols, r)) for r in rows]
