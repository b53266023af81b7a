"""Honest splits in time: the newest months are the test window; an incident never straddles a split."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


def month_add(month: str, delta: int) -> str:
    """Return the month `delta` months after 'YYYY-MM' (negative goes back)."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Windows:
    """Month ranges (inclusive, 'YYYY-MM') of the three parts of a split."""

    train_from: str
    train_until: str
    valid_from: str
    valid_until: str
    test_from: str
    test_until: str

    def as_dict(self) -> dict[str, str]:
        """Return the windows as a dictionary."""
        return asdict(self)


@dataclass
class Split:
    """Training, validation and test examples, split by incident month."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    windows: Windows


def last_month_with_data(months: pd.Series, until: str | None = None) -> str:
    """Return the newest month ('YYYY-MM') that has data, on or before `until` (a month or a date) if given."""
    upto = months if until is None else months[months <= until[:7]]
    if upto.empty:
        raise ValueError(f"no data up to {until[:7]}: the data starts {months.min()}; give a later --until")
    return str(upto.max())


def time_split(frame: pd.DataFrame, *, test_months: int = 3, valid_months: int = 1,
               until: str | None = None) -> Split:
    """Split examples by their incident's month: test = the newest `test_months` up to the last month with data
    on or before `until` (a month or a date), validation before it."""
    if frame.empty:
        raise ValueError("no examples to split: ingest incident or mobilisation records first")
    months = frame["month"]
    last = last_month_with_data(months, until)
    test_from = month_add(last, -(test_months - 1))
    valid_from = month_add(test_from, -valid_months)
    first = months.min()
    if first >= valid_from:
        raise ValueError(f"not enough history: data starts {first}, but the validation window starts {valid_from} "
                         f"and the test window {test_from}; use fewer --test-months or ingest more months")
    train = frame[months < valid_from]
    valid = frame[(months >= valid_from) & (months < test_from)]
    test = frame[(months >= test_from) & (months <= last)]
    if valid.empty or test.empty:
        raise ValueError(f"empty {'validation' if valid.empty else 'test'} window ({valid_from} .. {last})")
    windows = Windows(first, month_add(valid_from, -1), valid_from, month_add(test_from, -1), test_from, last)
    return Split(train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True), windows)
