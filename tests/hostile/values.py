"""The shared table of hostile and sloppy values, and hostile files built in a temporary folder.

Every test of tests/hostile/ draws its inputs from here, so each entry point meets the same bad input.
"""
from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.builders import INCIDENT_HEADER, incident_row, write_csv

LONG = "A" * 10_000
SCRIPT = "<script>alert(1)</script>"
MARKDOWN = "**bold** [x](javascript:alert(1))"

# Hostile text values: (id, value). Ids name them in test reports.
TEXTS: list[tuple[str, str]] = [
    ("empty", ""),
    ("whitespace", "   \t  "),
    ("long", LONG),
    ("rtl", "\u202eSE1 7PB\u202c"),
    ("emoji", "🚒🔥"),
    ("combining", "Pa\u0301ddi\u0308ngton"),
    ("nul", "SE1\x007PB"),
    ("script", SCRIPT),
    ("markdown", MARKDOWN),
    ("number", "12345"),
    ("negative", "-5"),
    ("nan", "nan"),
    ("inf", "inf"),
    ("newline", "line1\nline2"),
]
# Values that look like places but are not (or not in London): for location fields.
LOCATIONS: list[tuple[str, str]] = TEXTS + [
    ("swapped-latlon", "-0.1, 51.5"),
    ("far-latlon", "40.7, -74.0"),
    ("out-of-range-latlon", "95, 200"),
    ("unknown-postcode", "ZZ99 9ZZ"),
    ("not-london-postcode", "M1 1AE"),
    ("half-coords", "51.5,"),
    ("three-numbers", "51.5, -0.1, 3"),
]
# Times that are not times, or are far from the model's data.
TIMES: list[tuple[str, str]] = TEXTS + [
    ("year-1900", "1900-01-01 10:00"),
    ("year-2999", "2999-12-31 23:59"),
    ("bad-day", "31/02/2024 10:00"),
    ("hour-25", "2024-05-01 25:00"),
    ("words", "tomorrow afternoon"),
]
# Station names or codes that do not exist.
STATIONS: list[tuple[str, str]] = TEXTS + [
    ("unknown-code", "Z99"),
    ("unknown-name", "Atlantis"),
    ("sql", "A21'; DROP TABLE incidents;--"),
]
# Values for whole-number options.
NUMBERS: list[tuple[str, str]] = [
    ("empty", ""), ("word", "ten"), ("negative", "-3"), ("zero-ish", "-0"), ("float", "2.5"), ("nan", "nan"),
    ("inf", "inf"), ("huge", "9" * 400), ("long", LONG), ("emoji", "🚒"),
]
# Values for month options (YYYY-MM).
MONTHS: list[tuple[str, str]] = [
    ("empty", ""), ("word", "may"), ("month-13", "2024-13"), ("day-32", "2024-01-32"), ("year-0", "0000-01"),
    ("slashes", "2024/05"), ("long", LONG), ("script", SCRIPT), ("nul", "2024-05\x00"),
]


def _truncated_csv(folder: Path) -> Path:
    """Write a valid incident CSV cut in the middle of its last line."""
    full = write_csv(folder / "truncated.csv", [incident_row(f"{i:06d}-01012023") for i in range(1, 4)],
                     INCIDENT_HEADER)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) - 60])
    return full


def _binary(folder: Path) -> Path:
    """Write random-looking binary junk named .csv."""
    path = folder / "junk.csv"
    path.write_bytes(bytes(range(256)) * 40 + b"\x00\xff" * 500)
    return path


def _utf16(folder: Path) -> Path:
    """Write a valid incident CSV encoded as UTF-16 (with its byte-order mark)."""
    return write_csv(folder / "utf16.csv", [incident_row()], INCIDENT_HEADER, encoding="utf-16")


def _huge_header(folder: Path) -> Path:
    """Write a CSV whose header line is 2 MB of one column name."""
    path = folder / "huge-header.csv"
    path.write_text("x" * 2_000_000 + ",y\n1,2\n", encoding="utf-8")
    return path


def _huge_line(folder: Path) -> Path:
    """Write an incident CSV with a valid header and one 2 MB data line."""
    path = folder / "huge-line.csv"
    path.write_text(",".join(INCIDENT_HEADER) + "\n" + "9" * 2_000_000 + "\n", encoding="utf-8")
    return path


def _csv_as_xlsx(folder: Path) -> Path:
    """Write a valid incident CSV under an .xlsx name."""
    return write_csv(folder / "records.xlsx", [incident_row()], INCIDENT_HEADER)


def _xlsx_as_csv(folder: Path) -> Path:
    """Write a zip holding a workbook part under a .csv name (an Excel file renamed .csv)."""
    path = folder / "workbook.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return path


def _zip(folder: Path) -> Path:
    """Write a zip holding a CSV (an archive, not a record file)."""
    inner = write_csv(folder / "inner.csv", [incident_row()], INCIDENT_HEADER)
    path = folder / "records.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(inner, "records.csv")
    inner.unlink()
    return path


def _directory(folder: Path) -> Path:
    """Make a directory whose name looks like a record file."""
    path = folder / "folder.csv"
    path.mkdir()
    return path


def _missing(folder: Path) -> Path:
    """Return a path where nothing is."""
    return folder / "no-such-file.csv"


def _empty(folder: Path) -> Path:
    """Write an empty .csv file."""
    path = folder / "empty.csv"
    path.write_bytes(b"")
    return path


def _header_only(folder: Path) -> Path:
    """Write a CSV of only an unrelated header."""
    path = folder / "other.csv"
    path.write_text("name,colour\nfoo,red\n", encoding="utf-8")
    return path


def _html_name(folder: Path) -> Path:
    """Write a valid-looking but foreign CSV whose name carries HTML and markdown."""
    path = folder / "<b>x<\\b>_**bold**.csv"
    path.write_text("name,colour\nfoo,red\n", encoding="utf-8")
    return path


FILES: dict[str, Callable[[Path], Path]] = {
    "truncated": _truncated_csv, "binary": _binary, "utf16": _utf16, "huge-header": _huge_header,
    "huge-line": _huge_line, "csv-named-xlsx": _csv_as_xlsx, "xlsx-named-csv": _xlsx_as_csv, "zip": _zip,
    "directory": _directory, "missing": _missing, "empty": _empty, "foreign-csv": _header_only,
    "html-name": _html_name,
}


def make_file(kind: str, folder: Path) -> Path:
    """Build one hostile file of `kind` in a fresh subfolder of `folder`; return its path."""
    target = folder / kind
    target.mkdir(parents=True, exist_ok=True)
    return FILES[kind](target)


def ids(table: list[tuple[str, str]]) -> list[str]:
    """Return the ids of a table of (id, value)."""
    return [name for name, _ in table]


def values(table: list[tuple[str, str]]) -> list[str]:
    """Return the values of a table of (id, value)."""
    return [value for _, value in table]
