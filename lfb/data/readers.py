"""Read LFB record files (CSV or XLSX) in bounded-memory chunks of raw cells."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lfb.data.formats import FormatError, detect_kind

CSV_SUFFIXES = {".csv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}


@dataclass
class RawChunk:
    """A block of rows as read from the file, before any parsing."""

    frame: pd.DataFrame  # original headers; CSV cells are text, XLSX cells are Python values
    first_row: int  # row number in the file of the first row here (the header is row 1)
    done: int  # progress so far, in `total` units (bytes for CSV, rows for XLSX)
    total: int


def _csv_encoding(path: Path) -> str:
    """Return 'utf-8-sig' if the start of the file decodes as UTF-8, else 'cp1252'."""
    sample = path.read_bytes()[:1_000_000] if path.stat().st_size < 1_000_000 else _head(path)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            return "cp1252"
    return "utf-8-sig"


def _head(path: Path, size: int = 1_000_000) -> bytes:
    """Return the first `size` bytes of a file."""
    with path.open("rb") as fh:
        return fh.read(size)


class RecordFile:
    """An LFB incident or mobilisation file whose kind is known from its header."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")
        suffix = self.path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            self.format = "csv"
            self.encoding = _csv_encoding(self.path)
            self.headers = self._csv_headers()
            self.sheet = None
        elif suffix in XLSX_SUFFIXES:
            self.format = "xlsx"
            self.encoding = None
            self.sheet, self.headers = self._xlsx_sheet()
        else:
            raise FormatError(f"{self.path.name}: unsupported file type {suffix or '(none)'}; "
                              "give a .csv or .xlsx file of LFB incident or mobilisation records")
        try:
            self.kind = detect_kind(self.headers)
        except FormatError as exc:
            raise FormatError(f"{self.path.name}: {exc}") from None

    def _csv_headers(self) -> list[str]:
        """Return the header row of the CSV file."""
        with self.path.open("r", encoding=self.encoding, errors="replace", newline="") as fh:
            try:
                return next(csv.reader(fh))
            except StopIteration:
                raise FormatError(f"{self.path.name}: the file is empty") from None
            except csv.Error as exc:
                raise FormatError(f"{self.path.name}: not a readable CSV file ({exc})") from None

    def _xlsx_sheet(self) -> tuple[str, list[str]]:
        """Return the first worksheet whose first row is an LFB header, and that header."""
        import openpyxl

        try:
            wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several types for damaged files
            raise FormatError(f"{self.path.name}: not a readable XLSX workbook ({exc})") from None
        try:
            last_error: FormatError | None = None
            for ws in wb.worksheets:
                first = next(ws.iter_rows(max_row=1, values_only=True), None)
                if not first:
                    continue
                headers = ["" if v is None else str(v) for v in first]
                try:
                    detect_kind(headers)
                    return ws.title, headers
                except FormatError as exc:
                    last_error = exc
            if last_error:
                raise last_error
            raise FormatError(f"{self.path.name}: the workbook has no rows")
        finally:
            wb.close()

    def chunks(self, rows: int = 50_000) -> Iterator[RawChunk]:
        """Yield the file's data rows in blocks of at most `rows`."""
        yield from (self._csv_chunks(rows) if self.format == "csv" else self._xlsx_chunks(rows))

    def _csv_chunks(self, rows: int) -> Iterator[RawChunk]:
        """Yield CSV rows as text cells, with byte progress."""
        total = self.path.stat().st_size
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding=self.encoding, errors="replace", newline="")
            reader = pd.read_csv(text, dtype=str, keep_default_na=False, na_filter=False, chunksize=rows,
                                 on_bad_lines="error", engine="c")
            first = 2
            try:
                for frame in reader:
                    yield RawChunk(frame, first, min(raw.tell(), total), total)
                    first += len(frame)
            except pd.errors.ParserError as exc:
                raise FormatError(f"{self.path.name}: malformed CSV near data row {first}: {exc}") from None

    def _xlsx_chunks(self, rows: int) -> Iterator[RawChunk]:
        """Yield worksheet rows as Python values, with row progress."""
        import openpyxl

        wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            ws = wb[self.sheet]
            total = max((ws.max_row or 1) - 1, 1)
            width = len(self.headers)
            block: list[tuple] = []
            first = 2
            for values in ws.iter_rows(min_row=2, values_only=True):
                if values is None or all(v is None for v in values):
                    continue
                values = tuple(values[:width]) + (None,) * (width - len(values))
                block.append(values)
                if len(block) >= rows:
                    yield RawChunk(pd.DataFrame(block, columns=self.headers, dtype=object), first,
                                   min(first - 2 + len(block), total), total)
                    first += len(block)
                    block = []
            if block:
                yield RawChunk(pd.DataFrame(block, columns=self.headers, dtype=object), first, total, total)
        finally:
            wb.close()
