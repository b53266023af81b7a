"""Uploads (the admin console's file path, lfb.service.uploads) under hostile names and contents: what is refused says
why in one line and leaves nothing behind; what is kept lies directly in data/uploads/ under a name made there, never
the uploader's path, markup or length.
"""
from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest

from lfb.config import Settings
from lfb.service.uploads import UploadRefused, store_upload
from tests.hostile.conftest import tally
from tests.hostile.values import FILES, LONG, MARKDOWN, SCRIPT, TEXTS, make_file

SAFE_NAME = re.compile(r"\d{8}-\d{6}-[0-9a-f]{8}-[A-Za-z0-9_-]{1,60}\.(csv|xlsx)")
GOOD_CSV = b"IncidentNumber,DateOfCall,TimeOfCall\n1,2023-01-01,10:00\n"

# Hostile names with good CSV content: (id, name, kept?)
NAMES: list[tuple[str, str, bool]] = [(f"text-{name}", value, False) for name, value in TEXTS] + [
    ("traversal", "../../etc/passwd", False),
    ("traversal-csv", "../../etc/passwd.csv", True),
    ("windows-path", "C:\\Users\\x\\..\\records.csv", True),
    ("absolute", "/etc/cron.d/records.csv", True),
    ("script-csv", f"{SCRIPT}.csv", True),
    ("markdown-csv", f"{MARKDOWN}.csv", True),
    ("long-csv", f"{LONG}.csv", True),
    ("emoji-csv", "🚒🔥.csv", True),
    ("nul-csv", "rec\x00ords.csv", True),
    ("upper-csv", "RECORDS.CSV", True),
    ("double-ext", "records.csv.exe", False),
    ("hidden", ".csv", False),
    ("dots", "...", False),
    ("space-ext", "records. csv", False),
]


def _uploads(settings: Settings) -> list[Path]:
    """Return everything in the uploads folder (kept files and any left-over part)."""
    return sorted(settings.uploads_dir.iterdir()) if settings.uploads_dir.exists() else []


@pytest.fixture
def folder(store: Settings) -> Settings:
    """The module's store with an empty uploads folder."""
    for path in _uploads(store):
        path.unlink()
    return store


@pytest.mark.parametrize("name, kept", [(n, k) for _, n, k in NAMES], ids=[i for i, _, _ in NAMES])
def test_a_hostile_name_is_refused_or_kept_under_a_safe_name(folder: Settings, name: str, kept: bool) -> None:
    try:
        stored = store_upload(folder, name, io.BytesIO(GOOD_CSV), len(GOOD_CSV))
    except UploadRefused as exc:
        words = str(exc)
        tally("uploads (library)")
        assert not kept, f"refused: {words}"
        assert "is not a .csv or .xlsx file: upload LFB" in words and len(words) < 300, words
        assert _uploads(folder) == []
        return
    tally("uploads (library)")
    assert kept, f"kept {name!r} as {stored.path.name}"
    assert stored.path.parent == folder.uploads_dir and SAFE_NAME.fullmatch(stored.path.name), stored.path.name
    assert stored.path.read_bytes() == GOOD_CSV and _uploads(folder) == [stored.path]
    assert "/" not in stored.original_name and "\\" not in stored.original_name


# Hostile contents under a plausible name: (file kind from values.FILES, upload name, kept?, words of the refusal)
CONTENTS: list[tuple[str, str, bool, str]] = [
    ("truncated", "records.csv", True, ""),
    ("binary", "records.csv", False, "is named .csv but is not text"),
    ("utf16", "records.csv", True, ""),
    ("huge-header", "records.csv", False, "first line is not a header of comma-separated columns"),
    ("csv-named-xlsx", "records.xlsx", False, "is named .xlsx but is not an Excel workbook"),
    ("xlsx-named-csv", "records.csv", False, "is named .csv but is not text"),
    ("zip", "records.zip", False, "is not a .csv or .xlsx file"),
    ("zip", "records.xlsx", False, "holds no Excel workbook"),
    ("empty", "records.csv", False, "the file is empty"),
]


@pytest.mark.parametrize("kind, name, kept, words", CONTENTS, ids=[f"{k} as {n}" for k, n, _, _ in CONTENTS])
def test_a_hostile_content_is_refused_saying_why_and_leaves_nothing(folder: Settings, tmp_path: Path, kind: str,
                                                                   name: str, kept: bool, words: str) -> None:
    data = make_file(kind, tmp_path).read_bytes()
    tally("uploads (library)")
    if kept:
        stored = store_upload(folder, name, io.BytesIO(data), len(data))
        assert stored.path.read_bytes() == data
        return
    with pytest.raises(UploadRefused) as refused:
        store_upload(folder, name, io.BytesIO(data), len(data))
    assert words in str(refused.value) and "\n" not in str(refused.value)
    assert _uploads(folder) == []  # no part file left behind


def test_an_upload_over_the_limit_is_refused_by_its_size_and_by_its_bytes(folder: Settings) -> None:
    big = GOOD_CSV + b"1,2023-01-01,10:00\n" * (1024 * 1024 // 19 + 10)
    small = dataclasses.replace(folder, upload_max_mb=1)
    with pytest.raises(UploadRefused, match="over the limit of 1 MB .*`python -m lfb ingest FILE`"):
        store_upload(small, "big.csv", io.BytesIO(big), len(big))
    with pytest.raises(UploadRefused, match="over the limit of 1 MB"):
        store_upload(small, "big.csv", io.BytesIO(big), None)  # a size the browser did not say
    tally("uploads (library)")
    tally("uploads (library)")
    assert _uploads(folder) == []


def test_every_hostile_file_kind_is_covered() -> None:
    assert {kind for kind, *_ in CONTENTS} | {"huge-line", "directory", "missing", "foreign-csv", "html-name"} \
        == set(FILES)
