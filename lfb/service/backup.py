"""Backups of everything the product keeps: the records store, the service database, the model registry, the users.

A backup is one file, `data/backups/lfb-backup-YYYYMMDD-HHMMSS.tar.gz`, owner-only: SQLite's online backup of
both databases (consistent while the app and the sidecar run), every registered model version's folder, the
credentials file and the cookie key, and a manifest with the SHA-256 of every member. Restoring checks the
manifest and the databases' integrity before it replaces anything, and holds the ingest and train locks
while it does, so no job writes meanwhile.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from lfb.config import Settings
from lfb.text import shortened

MANIFEST = "manifest.json"
PREFIX = "lfb-backup-"
FORMAT = 1
Log = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup that cannot be made or restored (damaged file, wrong kind of file, a job running...)."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup holds."""

    path: Path
    size_bytes: int
    members: int
    versions: list[str]
    removed: list[str]  # older backups removed by the retention rule


def _now_tag() -> str:
    """Return the current UTC time as a file-name tag."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


def _sha256(path: Path) -> str:
    """Return the SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_database(source: Path, target: Path) -> None:
    """Copy a SQLite database with its online backup (a consistent copy while others read and write)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _registered_versions(db_path: Path) -> list[str]:
    """Return the model versions registered in a records store (none if it has no registry yet)."""
    if not db_path.exists():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
    try:
        return [r[0] for r in conn.execute("SELECT version FROM model_versions ORDER BY version")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def backup_dir(settings: Settings) -> Path:
    """Return the folder backups go to (owner-only)."""
    return settings.data_dir / "backups"


def _stage(settings: Settings, stage: Path) -> list[str]:
    """Put copies of everything to back up in `stage`; return the registered versions copied."""
    (stage / "models").mkdir(parents=True)
    if settings.db_path.exists():
        _copy_database(settings.db_path, stage / "lfb.db")
    if settings.service_db_path.exists():
        _copy_database(settings.service_db_path, stage / "service.db")
    versions = [v for v in _registered_versions(stage / "lfb.db") if (settings.models_dir / v).is_dir()]
    for version in versions:
        shutil.copytree(settings.models_dir / version, stage / "models" / version)
    for source, name in ((settings.credentials_path, "credentials.yaml"), (settings.cookie_key_path, "cookie_key")):
        if source.exists():
            shutil.copy2(source, stage / name)
    return versions


def _manifest(stage: Path, versions: list[str]) -> dict:
    """Return the manifest of a staged backup: when, what, and the SHA-256 of every file."""
    files = {str(p.relative_to(stage)): _sha256(p) for p in sorted(stage.rglob("*")) if p.is_file()}
    return {"format": FORMAT, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions, "files": files}


def _prune(folder: Path, keep: int) -> list[str]:
    """Delete the oldest backups beyond the newest `keep`; return their names."""
    backups = sorted(folder.glob(f"{PREFIX}*.tar.gz"))
    gone = backups[:-keep] if keep > 0 else []
    for path in gone:
        path.unlink(missing_ok=True)
    return [p.name for p in gone]


def make_backup(settings: Settings, log: Log = print) -> BackupReport:
    """Write a backup file of the stores, the registered models and the users; keep the newest LFB_BACKUP_KEEP."""
    folder = backup_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    target = folder / f"{PREFIX}{_now_tag()}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="lfb-backup-", dir=folder) as tmp:
        stage = Path(tmp) / "stage"
        log("copying the databases (online backup), the registered models and the users ...")
        versions = _stage(settings, stage)
        manifest = _manifest(stage, versions)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2))
        partial = Path(tmp) / "backup.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            for path in sorted(stage.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(stage)), recursive=False)
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    removed = _prune(folder, settings.backup_keep)
    report = BackupReport(target, target.stat().st_size, len(manifest["files"]), versions, removed)
    log(f"backup {target} ({report.size_bytes / 1e6:,.1f} MB): {len(versions)} model version(s), "
        f"{report.members} files" + (f"; removed {len(removed)} older backup(s)" if removed else ""))
    return report


def list_backups(settings: Settings) -> list[Path]:
    """Return the backup files, newest first."""
    folder = backup_dir(settings)
    return sorted(folder.glob(f"{PREFIX}*.tar.gz"), reverse=True) if folder.is_dir() else []


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Return the archive's members, refusing any that would land outside the folder it is read into."""
    members = tar.getmembers()
    for member in members:
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise BackupError(f"not an LFB backup: it holds {member.name!r}, which a backup never does")
    return members


def _unpack(path: Path, into: Path) -> dict:
    """Unpack a backup file into a folder and check it against its manifest; return the manifest."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(into, members=_safe_members(tar), filter="data")
    except (tarfile.TarError, OSError, EOFError, UnicodeError) as exc:
        raise BackupError(f"{shortened(path.name)} is not a readable backup ({exc}): give a file made by `python -m lfb "
                          "backup` (see `python -m lfb backup --list`)") from None
    try:
        manifest = json.loads((into / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(f"{path.name} is not an LFB backup: it has no valid {MANIFEST}") from None
    for name, digest in files.items():
        member = into / name
        if not member.is_file() or _sha256(member) != digest:
            raise BackupError(f"{path.name} is damaged: {name} is missing or does not match its checksum")
    for name in ("lfb.db", "service.db"):
        if (into / name).exists():
            conn = sqlite3.connect(str(into / name))
            try:
                ok = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            except sqlite3.DatabaseError:
                ok = False
            finally:
                conn.close()
            if not ok:
                raise BackupError(f"{path.name} is damaged: its {name} fails SQLite's integrity check")
    return manifest


def _restore_database(source: Path, target: Path) -> None:
    """Replace the database at `target` with `source`, through SQLite's backup (safe with WAL and readers)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(target), timeout=120)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def restore_backup(settings: Settings, path: Path, log: Log = print) -> dict:
    """Restore a backup file over the current data and models (checked first; jobs are kept out meanwhile)."""
    from lfb.service.locks import job_lock

    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file {path}: see `python -m lfb backup --list`")
    with tempfile.TemporaryDirectory(prefix="lfb-restore-") as tmp:
        staged = Path(tmp)
        manifest = _unpack(path, staged)
        log(f"{path.name} checked: made {manifest['created']}, {len(manifest['versions'])} model version(s)")
        with ExitStack() as held:
            held.enter_context(job_lock(settings, "ingest", owner="restore"))
            held.enter_context(job_lock(settings, "train", owner="restore"))
            if (staged / "lfb.db").exists():
                _restore_database(staged / "lfb.db", settings.db_path)
            settings.models_dir.mkdir(parents=True, exist_ok=True)
            for version in manifest["versions"]:
                target = settings.models_dir / version
                if not target.exists():
                    shutil.copytree(staged / "models" / version, target)
            for name, target in (("credentials.yaml", settings.credentials_path),
                                 ("cookie_key", settings.cookie_key_path)):
                if (staged / name).exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(staged / name, target)
                    os.chmod(target, 0o600)
        if (staged / "service.db").exists():  # last, once the locks taken above are released
            _restore_database(staged / "service.db", settings.service_db_path)
    log(f"restored {path.name}: the records store, {len(manifest['versions'])} model version(s), the users"
        + (" and the service database" if "service.db" in manifest["files"] else ""))
    return manifest


def describe(path: Path) -> str:
    """Return a line describing a backup file (its manifest), or why it cannot be read."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            manifest = json.load(io.TextIOWrapper(member)) if member else None
    except (tarfile.TarError, OSError, ValueError, KeyError):
        manifest = None
    if not manifest:
        return f"{shortened(path.name)}: not a readable backup (see `python -m lfb backup --list`)"
    return (f"{path.name}: made {manifest.get('created')}, {len(manifest.get('versions', []))} model version(s), "
            f"{len(manifest.get('files', {}))} files, {path.stat().st_size / 1e6:,.1f} MB")
