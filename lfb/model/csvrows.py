"""Batch CSV files in and out: every record keeps its place (a ragged row is a row error, never shifted
columns), and the output is written in one go.

Arrow's CSV reader reads a well-formed file fast; when any record has more or fewer fields than the
header, the file is read again with Python's csv module, which keeps such records in place (padded or
cut to the header) with an error saying what is wrong. Blank lines are not records.
"""
from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from lfb.data.readers import csv_encoding


def unique_headers(header: list[str]) -> list[str]:
    """Return the header with repeated names made unique ('x', 'x.1', ...), as pandas does."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        count = seen.get(name, 0)
        out.append(name if count == 0 else f"{name}.{count}")
        seen[name] = count + 1
    return out


def _header(path: Path, encoding: str) -> list[str]:
    """Return the first record of a CSV file (an empty list for an empty file)."""
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        for row in csv.reader(fh):
            if row:
                return row
    return []


def _read_arrow(path: Path, header: list[str], encoding: str, columns: list[str]) -> pd.DataFrame | None:
    """Return the cells (of `columns`) of a well-formed CSV file as text, or None when any record is ragged or
    unreadable."""
    ragged: list[int] = []

    def note(_row: pacsv.InvalidRow) -> str:
        """Remember that a record is ragged, and skip it (the file is then read again, record by record)."""
        ragged.append(1)
        return "skip"

    names = unique_headers(header)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                           encoding="utf8" if encoding.startswith("utf-8") else encoding),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=note),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=columns,
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    if ragged:
        return None
    return table.to_pandas()


def _read_python(path: Path, header: list[str], encoding: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the cells of a CSV file as text, record by record, and what is wrong with each record's shape."""
    width = len(header)
    rows, problems = [], []
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        records = csv.reader(fh)
        next(records, None)
        for record in records:
            if not record:
                continue
            problems.append("" if len(record) == width else
                            f"row has {len(record)} fields but the header has {width}: fix its commas or quotes")
            rows.append((record + [""] * width)[:width])
    columns = list(zip(*rows)) if rows else [()] * width
    frame = pd.DataFrame({name: np.array(col, dtype=object) for name, col in zip(unique_headers(header), columns)})
    return frame, np.array(problems, dtype=object)


def _text_encoding(path: Path) -> str:
    """Return the codec to read a CSV's text with (UTF-8 with or without BOM, Windows-1252 or UTF-16)."""
    encoding, _reencode = csv_encoding(path)
    return "utf-8-sig" if encoding == "utf-8" else encoding


def read_rows(path: Path | str, keep: Callable[[list[str]], list[str]] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Return a CSV file's cells as text (one row per record, in order; columns named by the header, only those
    `keep` chooses from the header if given) and, per row, what is wrong with its shape ('' when it has as many
    fields as the header)."""
    path = Path(path)
    encoding = _text_encoding(path)
    header = _header(path, encoding)
    if not header:
        raise ValueError(f"{path.name}: the file is empty: give a batch CSV with a header row and one row per request")
    columns = keep(unique_headers(header)) if keep else unique_headers(header)
    frame = _read_arrow(path, header, encoding, columns)
    if frame is not None:
        return frame, pd.Series("", index=frame.index, dtype=object)
    frame, problems = _read_python(path, header, encoding)
    return frame[columns], pd.Series(problems, index=frame.index, dtype=object)


def write_rows(columns: Mapping[str, np.ndarray | pd.Series], path: Path | str) -> None:
    """Write columns of equal length as a CSV file (Arrow's writer; missing values and NaN as empty cells)."""
    arrays = {}
    for name, values in columns.items():
        data = values.array if isinstance(values, pd.Series) else values
        try:
            arrays[name] = pa.array(data, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in an object column: write their text
            arrays[name] = pa.array([None if pd.isna(v) else str(v) for v in data], type=pa.string())
    pacsv.write_csv(pa.table(arrays), str(path))
