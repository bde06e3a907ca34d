"""CSV that is safe to open in a spreadsheet.

A cell starting with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
spreadsheets skip before evaluating) is run as a formula by Excel and LibreOffice: a name
typed as `=HYPERLINK(...)` in a web form would execute on the desk of whoever opens the
export (OWASP, "CSV Injection"). Such cells are prefixed with an apostrophe, which the
spreadsheet shows as text and hides.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """One value as CSV text: None is empty, dates ISO 8601, formula starts neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True) -> bytes:
    """UTF-8, CRLF rows (RFC 4180). The BOM makes Excel read å, ä, ö right; a machine
    consumer such as a marketing tool's import may want it off."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig" if bom else "utf-8")
