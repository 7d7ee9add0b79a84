"""CSV cells that a spreadsheet will not run: OWASP's defence against CSV (formula) injection.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and
Google Sheets as a formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE). OWASP's advice: prefix such a cell with a
single quote, which the spreadsheet shows as text, and quote every cell that holds the separator or quotes
(the csv module and pandas do that). Lines end in CRLF as RFC 4180 says: with a bare "\n" terminator the csv
module leaves a cell holding "\r" unquoted, and the file then splits that row in two.
Numbers stay numbers: only text cells are touched, so the float -0.5 is written as it is, the text "-0.5"
with its quote.
Every CSV SteelScan writes goes through `write_rows` or `frame_to_csv`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
LINE_END = "\r\n"


def neutralise(value: Any) -> Any:
    """The cell as a spreadsheet should show it: text starting like a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell neutralised (numeric, boolean and date columns untouched)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    return safe


def frame_to_csv(frame: pd.DataFrame, path: str | Path | None = None) -> str | None:
    """pandas' to_csv on the neutralised frame: to `path`, or returned as text when path is None."""
    return neutralise_frame(frame).to_csv(path, index=False, lineterminator=LINE_END)


def write_rows(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator=LINE_END)
        writer.writerow([neutralise(c) for c in header])
        writer.writerows([neutralise(c) for c in row] for row in rows)
