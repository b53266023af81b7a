"""Ingest LFB record files into the store: idempotent, atomic per file, every refused row kept."""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.data.formats import INCIDENTS, FormatError
from lfb.data.readers import RecordFile, is_file, not_a_file
from lfb.data.records import parse_chunk
from lfb.data.store import INCIDENT_COLUMNS, MOBILISATION_COLUMNS, count, transaction, upsert_rows

Progress = Callable[[int, int], None]  # (done, total) in the file's own units
DISK_FULL = ("the disk is full (database or temp folder); free space and ingest the file again — "
             "nothing from this file was kept")
TABLES = {INCIDENTS: ("incidents", list(INCIDENT_COLUMNS), ("incident_number",)),
          "mobilisations": ("mobilisations", list(MOBILISATION_COLUMNS), ("incident_number", "mobilisation_id"))}


@dataclass
class IngestReport:
    """What happened to one file."""

    file_name: str
    status: str  # ok | skipped | failed
    kind: str | None = None
    sha256: str | None = None
    ingest_id: int | None = None
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_rejected: int = 0
    rows_derived: int = 0
    seconds: float = 0.0
    is_demo: bool = False
    message: str = ""

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of ingestion."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        """Return the report as a plain dictionary."""
        return asdict(self) | {"rows_per_second": round(self.rows_per_second, 1)}


def _now() -> str:
    """Return the current UTC time as ISO text."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Return the frame's rows as tuples in `columns` order, missing values as None."""
    arrays = []
    for name in columns:
        if name not in frame:
            arrays.append([None] * len(frame))
            continue
        arr = np.array(frame[name].to_numpy(dtype=object), dtype=object, copy=True)
        arr[pd.isna(arr)] = None
        arrays.append(arr)
    return list(zip(*arrays))


def previous_ingest(db: sqlite_utils.Database, sha256: str) -> int | None:
    """Return the id of a successful earlier ingest of the same bytes, if any."""
    row = db.execute("SELECT id FROM ingests WHERE sha256 = ? AND status = 'ok' ORDER BY id DESC LIMIT 1",
                     [sha256]).fetchone()
    return None if row is None else int(row[0])


def is_disk_full(exc: BaseException) -> bool:
    """Return True if the error says the disk (or SQLite's size limit) is full."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def failure_message(exc: BaseException, file_name: str) -> str:
    """Return the one-line reason a file failed, saying what to do where that is known."""
    if is_disk_full(exc):
        return DISK_FULL
    if isinstance(exc, (FormatError, OSError, ValueError, UnicodeError, KeyError)):
        text = str(exc)
        if text.startswith(f"{file_name}: "):
            return text.removeprefix(f"{file_name}: ")
        return "the file " + text.removeprefix(f"{file_name} ") if text.startswith(f"{file_name} ") else text
    return f"{type(exc).__name__}: {exc}"


INTERRUPTED = ("interrupted: the process ended before this file was fully ingested; nothing from it was kept "
               "(ingest it again)")


def _announce(db: sqlite_utils.Database, report: IngestReport, records: RecordFile, started: str) -> int:
    """Record, in its own short transaction, that this file is being ingested (others can see it and wait for it)."""
    with transaction(db):
        return int(db.execute(
            "INSERT INTO ingests (file_name, sha256, kind, started, status, size_bytes) VALUES (?, ?, ?, ?, ?, ?)",
            [report.file_name, report.sha256, records.kind, started, "running", records.path.stat().st_size],
        ).lastrowid)


def mark_interrupted(db: sqlite_utils.Database) -> int:
    """Mark as failed the ingests left 'running' by a process that died; call only while no ingest runs."""
    with transaction(db):
        return db.execute("UPDATE ingests SET status = 'failed', finished = ?, message = ? WHERE status = 'running'",
                          [_now(), INTERRUPTED]).rowcount


def _record_failure(db: sqlite_utils.Database, report: IngestReport, started: str) -> IngestReport:
    """Write the ingest row of a failed file in its own transaction (if even that fails, say so in the report)."""
    try:
        with transaction(db):
            if report.ingest_id is not None:  # announced as running: that row now says why it failed
                db.execute("UPDATE ingests SET status = 'failed', finished = ?, message = ?, seconds = ? WHERE id = ?",
                           [_now(), report.message, report.seconds, report.ingest_id])
            else:
                cursor = db.execute(
                    "INSERT INTO ingests (file_name, sha256, kind, started, finished, status, message, seconds) "
                    "VALUES (?, ?, ?, ?, ?, 'failed', ?, ?)",
                    [report.file_name, report.sha256 or "", report.kind, started, _now(), report.message,
                     report.seconds])
                report.ingest_id = cursor.lastrowid
    except sqlite3.Error as exc:
        why = "the disk is full" if is_disk_full(exc) else str(exc)
        report.message += f" (the failure could not be recorded in the database: {why})"
    return report


def ingest_file(db: sqlite_utils.Database, path: Path | str, *, chunk_rows: int = 50_000, force: bool = False,
                progress: Progress | None = None) -> IngestReport:
    """Ingest one incident or mobilisation file; all its rows go in, or (on failure) none do."""
    path = Path(path)
    started, clock = _now(), time.perf_counter()
    report = IngestReport(file_name=path.name, status="failed")
    try:
        if not is_file(path):
            raise FormatError(not_a_file(path))
        report.sha256 = file_sha256(path)
        if not force and (earlier := previous_ingest(db, report.sha256)) is not None:
            report.status, report.ingest_id = "skipped", earlier
            report.message = f"already ingested unchanged (ingest #{earlier}); nothing to do"
            return report
        records = RecordFile(path)
        report.kind = records.kind
        report.ingest_id = _announce(db, report, records, started)
        _load(db, records, report, started, chunk_rows, progress)
    except KeyboardInterrupt:
        report.message = "interrupted; nothing from this file was kept"
        report.seconds = time.perf_counter() - clock
        _record_failure(db, report, started)
        raise
    except Exception as exc:  # noqa: BLE001 - any failure must leave a clear trace, not a half-written file
        report.message = failure_message(exc, path.name)
    report.seconds = time.perf_counter() - clock
    if report.status != "ok":
        report.rows_read = report.rows_inserted = report.rows_updated = report.rows_rejected = 0
        report.rows_derived = 0
        return _record_failure(db, report, started)
    return report


def _load(db: sqlite_utils.Database, records: RecordFile, report: IngestReport, started: str, chunk_rows: int,
          progress: Progress | None) -> None:
    """Write every chunk of the file and complete its announced ingest row, in one transaction."""
    table, columns, key = TABLES[records.kind]
    mob_table, mob_columns, mob_key = TABLES["mobilisations"]
    clock = time.perf_counter()
    ingest_id = report.ingest_id
    with transaction(db):
        before = count(db, table)
        demo = False
        for chunk in records.chunks(chunk_rows):
            parsed = parse_chunk(records.kind, chunk.frame, chunk.rows)
            rejects = sorted(chunk.malformed + parsed.rejects, key=lambda r: r[0] or 0)
            report.rows_read += len(chunk.frame) + len(chunk.malformed)
            report.rows_rejected += len(rejects)
            parsed.records["ingest_id"] = ingest_id
            upsert_rows(db, table, columns, key, to_rows(parsed.records, columns))
            if records.kind == INCIDENTS:
                forget_derived(db, parsed.records["incident_number"])
            if len(parsed.derived):
                parsed.derived["ingest_id"] = ingest_id
                upsert_rows(db, mob_table, mob_columns, mob_key, to_rows(parsed.derived, mob_columns))
                report.rows_derived += len(parsed.derived)
            if rejects:
                db.conn.executemany("INSERT INTO rejects (ingest_id, line, reason, raw) VALUES (?, ?, ?, ?)",
                                    [(ingest_id, *r) for r in rejects])
            demo = demo or bool(parsed.records["is_demo"].any())
            if progress:
                progress(chunk.done, chunk.total)
        accepted = report.rows_read - report.rows_rejected
        report.rows_inserted = count(db, table) - before
        report.rows_updated = accepted - report.rows_inserted
        report.seconds = time.perf_counter() - clock
        report.ingest_id, report.is_demo, report.status = ingest_id, demo, "ok"
        report.message = _summary(report)
        db.execute(
            "UPDATE ingests SET rows_read = ?, rows_inserted = ?, rows_updated = ?, rows_rejected = ?, "
            "rows_derived = ?, finished = ?, status = 'ok', message = ?, seconds = ?, is_demo = ? WHERE id = ?",
            [report.rows_read, report.rows_inserted, report.rows_updated, report.rows_rejected, report.rows_derived,
             _now(), report.message, report.seconds, int(demo), ingest_id])
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def forget_derived(db: sqlite_utils.Database, incident_numbers: pd.Series) -> None:
    """Delete the derived pump attendances of these incidents in one statement, so their new rows replace them."""
    db.execute("DELETE FROM mobilisations WHERE derived = 1 AND incident_number IN (SELECT value FROM json_each(?))",
               [json.dumps(incident_numbers.tolist())])


def _summary(report: IngestReport) -> str:
    """Return a one-line human summary of a successful ingest."""
    if not report.rows_read:
        return f"the file holds the {report.kind} header but no records; nothing to add"
    text = (f"{report.rows_read:,} {report.kind} rows read: {report.rows_inserted:,} new, "
            f"{report.rows_updated:,} updated, {report.rows_rejected:,} rejected")
    if report.rows_derived:
        text += f"; {report.rows_derived:,} pump attendances derived"
    return text + f" ({report.rows_per_second:,.0f} rows/s)"
