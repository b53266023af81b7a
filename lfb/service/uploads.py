"""Record files uploaded in the admin console: checked by name, size and content, kept under data/uploads/ with a
name made here (never the uploader's path), for an `ingest` request to read. Nothing uploaded is ever executed or
opened with anything but the ingestion's readers.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lfb.config import Settings
from lfb.text import quoted

KINDS = {".csv": "CSV", ".xlsx": "Excel workbook"}
SNIFF_BYTES = 64 * 1024
COPY_CHUNK = 1024 * 1024
MAX_STEM = 60
ZIP_MAGIC = b"PK\x03\x04"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
# Signatures of files that are certainly not record files (zip, gzip, PDF, executables, old Excel, images).
BINARY_MAGIC = (ZIP_MAGIC, b"\x1f\x8b", b"%PDF", b"\x7fELF", b"MZ", b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff",
                b"#!")


class UploadRefused(ValueError):
    """An uploaded file that is not kept: its message says why, in one line."""


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded file as kept for ingestion."""

    path: Path
    original_name: str
    size_bytes: int
    sha256: str


def original_basename(name: str) -> str:
    """Return the last part of an uploaded file's name as a browser may send it (any path separators dropped)."""
    return re.split(r"[\\/]", name or "")[-1].strip()


def suffix_of(name: str) -> str:
    """Return the lower-case extension of a file name ('' when it has none)."""
    base = original_basename(name)
    return os.path.splitext(base)[1].lower() if "." in base.strip(".") else ""


def check_name(name: str) -> str:
    """Return the upload's extension (.csv or .xlsx), or raise UploadRefused naming the kinds accepted."""
    suffix = suffix_of(name)
    if suffix not in KINDS:
        raise UploadRefused(f"{quoted(original_basename(name) or 'the file')} is not a .csv or .xlsx file: upload LFB "
                            "incident or mobilisation records as CSV or Excel (.xlsx)")
    return suffix


def check_size(size: int, limit_mb: int) -> None:
    """Raise UploadRefused if `size` bytes is empty or over the limit (LFB_UPLOAD_MAX_MB megabytes)."""
    if size <= 0:
        raise UploadRefused("the file is empty")
    if size > limit_mb * 1024 * 1024:
        raise UploadRefused(f"the file is {size / 1024 / 1024:,.0f} MB, over the limit of {limit_mb:,} MB "
                            "(LFB_UPLOAD_MAX_MB); ingest it from the command line (`python -m lfb ingest FILE`)")


def _text_head(head: bytes) -> str | None:
    """Return the start of a file decoded as text, or None when it is not text."""
    if head.startswith(UTF16_BOMS):
        with contextlib.suppress(UnicodeDecodeError):
            return head[: len(head) // 2 * 2].decode("utf-16")
        return None
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut at the end of the sample
            return head[: exc.start].decode("utf-8")
    try:
        return head.decode("cp1252")
    except UnicodeDecodeError:
        return None


def check_csv_head(head: bytes) -> None:
    """Raise UploadRefused unless the start of a file reads as a CSV: text whose first line has several columns."""
    if head.startswith(BINARY_MAGIC):
        raise UploadRefused("the file is named .csv but is not text (it looks like a binary or Excel file); "
                            "upload an .xlsx workbook under its own name, or the CSV itself")
    text = _text_head(head)
    if text is None:
        raise UploadRefused("the file is named .csv but is not text in a known encoding (UTF-8, UTF-16 or "
                            "Windows-1252)")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if first.count(",") < 1:
        raise UploadRefused("the file's first line is not a header of comma-separated columns: upload the LFB "
                            "records as published")


def check_xlsx(path: Path) -> None:
    """Raise UploadRefused unless the file is an Excel workbook (a zip holding a workbook part)."""
    with path.open("rb") as fh:
        magic = fh.read(len(ZIP_MAGIC))
    if magic != ZIP_MAGIC:
        raise UploadRefused("the file is named .xlsx but is not an Excel workbook")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        raise UploadRefused("the file is named .xlsx but is not a readable Excel workbook (damaged zip)") from None
    if not all(part in names for part in XLSX_PARTS):
        raise UploadRefused("the file is named .xlsx but holds no Excel workbook")


def safe_name(original: str, suffix: str, now: dt.datetime | None = None) -> str:
    """Return a new file name for an upload: time, a random part and the original's letters and digits only."""
    stem = os.path.splitext(original_basename(original))[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:MAX_STEM] or "upload"
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{when}-{secrets.token_hex(4)}-{stem}{suffix}"


def _copy_limited(head: bytes, source: BinaryIO, target: BinaryIO, limit_mb: int) -> tuple[int, str]:
    """Write `head` then the rest of a stream to a file, refusing it once it passes the limit; return size and
    SHA-256."""
    digest, size, chunk = hashlib.sha256(), 0, head
    while chunk:
        size += len(chunk)
        if size > limit_mb * 1024 * 1024:
            raise UploadRefused(f"the file is over the limit of {limit_mb:,} MB (LFB_UPLOAD_MAX_MB); ingest it from "
                                "the command line (`python -m lfb ingest FILE`)")
        digest.update(chunk)
        target.write(chunk)
        chunk = source.read(COPY_CHUNK)
    return size, digest.hexdigest()


def store_upload(settings: Settings, name: str, source: BinaryIO, size: int | None = None) -> StoredUpload:
    """Check an uploaded file and keep it under data/uploads/ with a generated name; raise UploadRefused if not."""
    suffix = check_name(name)
    if size is not None:
        check_size(size, settings.upload_max_mb)
    head = source.read(SNIFF_BYTES)
    if not head:
        raise UploadRefused("the file is empty")
    if suffix == ".csv":
        check_csv_head(head)
    folder = settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / safe_name(name, suffix)
    if final.resolve().parent != folder.resolve():  # cannot happen with the name made above; checked all the same
        raise UploadRefused("the file name cannot be used")
    partial = final.with_name(f".{final.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            total, sha = _copy_limited(head, source, out, settings.upload_max_mb)
            out.flush()
            os.fsync(out.fileno())
        if suffix == ".xlsx":
            check_xlsx(partial)
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return StoredUpload(final, original_basename(name), total, sha)


def remove_upload(settings: Settings, path: Path) -> None:
    """Delete a kept upload (only a file directly inside data/uploads/)."""
    path = Path(path)
    if path.resolve().parent == settings.uploads_dir.resolve() and path.is_file():
        path.unlink()
