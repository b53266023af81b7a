"""Read LFB record files (CSV or XLSX) in bounded-memory chunks of raw cells."""
from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lfb.data.formats import RECORDS_HINT, FormatError, detect_kind
from lfb.text import shortened

if TYPE_CHECKING:
    import pyarrow as pa

CSV_SUFFIXES = {".csv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
CSV_BLOCK_BYTES = 1 << 20  # bytes the CSV parser reads at a time (measured fastest for LFB rows)
SNIFF_BYTES = 64 * 1024  # bytes looked at to tell what a file really is
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 26), *range(27, 32)])  # never in a text CSV


@dataclass
class RawChunk:
    """A block of rows as read from the file, before any parsing, and the rows that could not be read as rows."""

    frame: pd.DataFrame  # original headers; CSV cells are text, XLSX cells are Python values
    rows: np.ndarray  # the row number in the file of each row of `frame` (the header is row 1)
    done: int  # progress so far, in `total` units (bytes for CSV, rows for XLSX)
    total: int
    malformed: list[tuple[int | None, str, str]] = field(default_factory=list)  # (row number, reason, raw text)

    @property
    def first_row(self) -> int:
        """The row number of the first row of `frame`."""
        return int(self.rows[0]) if len(self.rows) else 2


def malformed_reason(fields: int, width: int) -> str:
    """Return why a row whose field count differs from the header's is refused."""
    return f"row has {fields} field{'s' if fields != 1 else ''}, the header has {width} (cut off or malformed)"


def _head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """Return the first `size` bytes of a file."""
    with path.open("rb") as fh:
        return fh.read(size)


def _is_xlsx(path: Path) -> bool:
    """Return True if a ZIP file is an Excel workbook."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def sniff_format(path: Path) -> str:
    """Return 'csv' or 'xlsx' from a file's first bytes, or raise FormatError saying what the file really is."""
    head = _head(path)
    name = path.name
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if _is_xlsx(path):
            return "xlsx"
        raise FormatError(f"{name} is a ZIP archive, not a CSV: unzip it and ingest the CSV inside")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise FormatError(f"{name} is an old Excel .xls workbook, not a CSV: open it in Excel and save it as .xlsx "
                          "or .csv, then ingest that")
    if head.startswith(b"\x1f\x8b"):
        raise FormatError(f"{name} is gzip-compressed, not a CSV: decompress it (gunzip) and ingest the CSV")
    if _utf16_codec(head) is None and _control_share(head) > 0.01:
        raise FormatError(f"{name} is not a text CSV file (it holds binary data): give the LFB incident or "
                          "mobilisation records as .csv or .xlsx")
    return "csv"


def _control_share(head: bytes) -> float:
    """Return the share of bytes that never occur in text."""
    return (len(head) - len(head.translate(None, CONTROL_BYTES))) / max(len(head), 1)


def _utf16_codec(head: bytes) -> str | None:
    """Return the UTF-16 codec of text starting with `head` (by its BOM, or by where its NUL bytes are), else None."""
    if head.startswith(UTF16_BOMS):
        return "utf-16"
    sample = head[:4096 - 4096 % 2]
    if len(sample) < 2:
        return None
    odd_nuls, even_nuls = sample[1::2].count(0), sample[0::2].count(0)
    if odd_nuls > 0.4 * len(sample) / 2 and even_nuls == 0:
        return "utf-16-le"  # ASCII text as UTF-16-LE: every second byte is NUL
    if even_nuls > 0.4 * len(sample) / 2 and odd_nuls == 0:
        return "utf-16-be"
    return None


def csv_encoding(path: Path) -> tuple[str, bool]:
    """Return the text encoding of a CSV file (a UTF-16 codec, 'utf-8' with or without BOM, or 'cp1252') and whether
    it must be re-encoded for the CSV parser (anything but clean UTF-8)."""
    head = _head(path)
    if (codec := _utf16_codec(head)) is not None:
        return codec, True
    decoder = codecs.getincrementaldecoder("utf-8")()
    seen_non_ascii = False
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:  # a damaged UTF-8 file (it had UTF-8 text before), or a Windows one
                seen_non_ascii = seen_non_ascii or not block[:exc.start].isascii()
                return ("utf-8" if seen_non_ascii else "cp1252"), True
            seen_non_ascii = seen_non_ascii or not block.isascii()
    return "utf-8", False


class Utf8Stream:
    """A binary file read as UTF-8 bytes, whatever its encoding (undecodable bytes become U+FFFD)."""

    def __init__(self, path: Path, encoding: str):
        self.raw = path.open("rb")
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self.pending = b""
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        """Return up to `size` bytes of UTF-8 text (all that is left when size < 0)."""
        while size < 0 or len(self.pending) < size:
            block = self.raw.read(1 << 20 if size < 0 else max(size, 1 << 16))
            self.pending += self.decoder.decode(block, final=not block).encode("utf-8")
            if not block:
                break
        size = len(self.pending) if size < 0 else size
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def tell(self) -> int:
        """Return how far into the original file reading has got, in bytes."""
        return self.raw.tell()

    def readable(self) -> bool:
        """Say that this stream can be read."""
        return True

    def close(self) -> None:
        """Close the underlying file."""
        self.raw.close()
        self.closed = True


def is_file(path: Path) -> bool:
    """Return whether `path` is a file, False for a name the system cannot even look up (too long, a NUL byte)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def not_a_file(path: Path) -> str:
    """Return why `path` cannot be read as a record file (missing, or a folder), saying what to give instead."""
    if not is_file(path) and _is_dir(path):
        return (f"{shortened(path)}: a folder, not a file: give a .csv or .xlsx file of LFB records (not a folder or a "
                ".zip)")
    return f"{shortened(path)}: no such file: check the path of the .csv or .xlsx file"


def _is_dir(path: Path) -> bool:
    """Return whether `path` is a folder (False when it cannot be looked up)."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


class RecordFile:
    """An LFB incident or mobilisation file whose kind is known from its header."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not is_file(self.path):
            raise FormatError(not_a_file(self.path))
        suffix = self.path.suffix.lower()
        if suffix in CSV_SUFFIXES and sniff_format(self.path) == "csv":
            self.format = "csv"
            self.encoding, self.transcode = csv_encoding(self.path)
            self.header_number, self.headers = self._csv_headers()
            self.sheet = None
        elif suffix in CSV_SUFFIXES or suffix in XLSX_SUFFIXES:  # a .csv that is really a workbook is read as one
            self.format = "xlsx"
            self.encoding, self.transcode = None, False
            self.sheet, self.headers = self._xlsx_sheet()
        else:
            raise FormatError(f"{self.path.name}: unsupported file type {suffix or '(none)'}; "
                              "give a .csv or .xlsx file of LFB incident or mobilisation records")
        try:
            self.kind = detect_kind(self.headers)
        except FormatError as exc:
            raise FormatError(f"{self.path.name}: {exc}") from None

    def _csv_headers(self) -> tuple[int, list[str]]:
        """Return the header row of the CSV file and its row number (blank lines before it do not count)."""
        encoding = "utf-8-sig" if self.encoding == "utf-8" else self.encoding
        with self.path.open("r", encoding=encoding, errors="replace", newline="") as fh:
            number = 1
            try:
                for cells in csv.reader(fh):
                    if any(cell.strip() for cell in cells):
                        return number, cells
                    number += bool(cells)  # a line of spaces is a row to the CSV parser; an empty line is not
            except csv.Error as exc:
                raise FormatError(f"{self.path.name}: not a readable CSV file ({exc}): {RECORDS_HINT}") from None
        raise FormatError(f"{self.path.name}: the file is empty (no header row, no records): {RECORDS_HINT}")

    @contextmanager
    def _workbook(self) -> Iterator[Any]:
        """Open the file as a read-only workbook (whatever its name ends with) and close it afterwards."""
        import openpyxl

        with self.path.open("rb") as fh:
            try:
                wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
            except Exception as exc:  # openpyxl raises several types for damaged files
                raise FormatError(f"{self.path.name}: not a readable XLSX workbook ({exc}): save it again from Excel as .xlsx "
                                  "or .csv") from None
            try:
                yield wb
            finally:
                wb.close()

    def _xlsx_sheet(self) -> tuple[str, list[str]]:
        """Return the first worksheet whose first row is an LFB header, and that header."""
        with self._workbook() as wb:
            last_error: FormatError | None = None
            for ws in wb.worksheets:
                first = next(ws.iter_rows(max_row=1, values_only=True), None)
                if not first:
                    continue
                headers = ["" if v is None else str(v) for v in first]
                while headers and headers[-1] == "":  # empty cells after the last header (the sheet is wider)
                    headers.pop()
                try:
                    detect_kind(headers)
                    return ws.title, headers
                except FormatError as exc:
                    last_error = exc
            if last_error:
                raise last_error
            raise FormatError(f"{self.path.name}: the workbook has no rows")

    def chunks(self, rows: int = 50_000) -> Iterator[RawChunk]:
        """Yield the file's data rows in blocks of at most `rows`."""
        yield from (self._csv_chunks(rows) if self.format == "csv" else self._xlsx_chunks(rows))

    def _csv_source(self) -> Any:
        """Return the file opened for the CSV parser: as it is when UTF-8, else re-encoded to UTF-8."""
        import pyarrow as pa

        return Utf8Stream(self.path, self.encoding) if self.transcode else pa.OSFile(str(self.path))

    def _csv_chunks(self, rows: int) -> Iterator[RawChunk]:
        """Yield CSV rows as text cells, with byte progress; rows whose field count is not the header's are set
        aside as malformed (blank lines are skipped), so they can never be read as shorter or longer records."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        width, total = len(self.headers), self.path.stat().st_size
        numbering = RowNumbering(self.header_number)

        def refuse(row: Any) -> str:
            """Set aside a row of the wrong width (a pyarrow.csv.InvalidRow); the parser then skips it."""
            numbering.refuse(row.number, row.text, malformed_reason(row.actual_columns, width))
            return "skip"

        names = [f"c{i}" for i in range(width)]
        source = self._csv_source()
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=refuse),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False))
            pending = reader.schema.empty_table()
            for batch in reader:
                if numbering.header_pending:  # the header row comes through as the first row, unless refused
                    batch, numbering.header_pending = batch.slice(1), False
                pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])  # no copy
                while len(pending) >= rows:
                    yield self._csv_chunk(pending.slice(0, rows), numbering, min(source.tell(), total), total)
                    pending = pending.slice(rows)
            if len(pending) or numbering.malformed:
                yield self._csv_chunk(pending, numbering, total, total, last=True)
        except pa.ArrowInvalid as exc:
            raise FormatError(self._csv_error(str(exc), numbering.next)) from None
        finally:
            source.close()

    def _csv_error(self, error: str, near: int) -> str:
        """Return a one-line message for a CSV the parser cannot read at all."""
        if "straddl" in error or "block size" in error:
            return (f"{self.path.name}: not a readable CSV file: a row after row {near - 1} never ends (most likely "
                    "a quote \" that is opened and not closed); fix or re-download the file")
        return f"{self.path.name}: not a readable CSV file near row {near} ({error.strip()})"

    def _csv_chunk(self, table: pa.Table, numbering: RowNumbering, done: int, total: int,
                   last: bool = False) -> RawChunk:
        """Return a RawChunk of parsed rows, numbered, with the malformed rows that came before them."""
        frame = table.to_pandas()
        frame.columns = self.headers
        numbers = numbering.take(len(frame))
        return RawChunk(frame, numbers, done, total, numbering.malformed_before(None if last else numbers[-1]))

    def _xlsx_chunks(self, rows: int) -> Iterator[RawChunk]:
        """Yield worksheet rows as Python values, with row progress; rows with values beyond the header's columns
        are set aside as malformed."""
        with self._workbook() as wb:
            ws = wb[self.sheet]
            total = max((ws.max_row or 1) - 1, 1)
            width = len(self.headers)
            block: list[tuple] = []
            numbers: list[int] = []
            malformed: list[tuple[int | None, str, str]] = []
            for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
                if values is None or all(v is None for v in values):
                    continue
                if len(values) > width and any(v is not None for v in values[width:]):
                    fields = max(i for i, v in enumerate(values) if v is not None) + 1
                    text = ",".join("" if v is None else str(v) for v in values[:fields])
                    malformed.append((number, malformed_reason(fields, width), text))
                    continue
                block.append(tuple(values[:width]) + (None,) * (width - len(values)))
                numbers.append(number)
                if len(block) >= rows:
                    yield RawChunk(pd.DataFrame(block, columns=self.headers, dtype=object), np.array(numbers),
                                   min(number - 1, total), total, malformed)
                    block, numbers, malformed = [], [], []
            if block or malformed:
                yield RawChunk(pd.DataFrame(block, columns=self.headers, dtype=object), np.array(numbers, dtype=int),
                               total, total, malformed)


class RowNumbering:
    """Row numbers of the rows the CSV parser returns, given the rows it set aside (malformed or blank)."""

    def __init__(self, header_number: int = 1):
        self.header_number = header_number
        self.header_pending = True  # the header row has not been seen yet
        self.next = header_number + 1
        self.skipped: list[int] = []  # numbers of rows set aside and not yet passed, in order
        self.malformed: list[tuple[int | None, str, str]] = []  # (row number, reason, raw text), not yet handed out

    def refuse(self, number: int | None, text: str, reason: str) -> None:
        """Note a row the parser set aside: the header, a blank line or a malformed row."""
        if number is not None and number <= self.header_number:
            self.header_pending = self.header_pending and number != self.header_number
            return
        if number is not None:
            self.skipped.append(number)
        if text.strip():
            self.malformed.append((number, reason, text.rstrip("\r\n")))

    def take(self, n: int) -> np.ndarray:
        """Return the row numbers of the next `n` rows the parser returned."""
        skip = np.asarray(self.skipped, dtype=np.int64)
        candidates = np.arange(self.next, self.next + n + len(skip), dtype=np.int64)
        numbers = candidates[~np.isin(candidates, skip)][:n]
        if n:
            self.next = int(numbers[-1]) + 1
            self.skipped = [k for k in self.skipped if k >= self.next]
        return numbers

    def malformed_before(self, number: int | None) -> list[tuple[int | None, str, str]]:
        """Hand out the malformed rows numbered before `number` (all of them when None)."""
        if number is None:
            out, self.malformed = self.malformed, []
            return out
        out = [m for m in self.malformed if m[0] is None or m[0] < number]
        self.malformed = [m for m in self.malformed if not (m[0] is None or m[0] < number)]
        return out
