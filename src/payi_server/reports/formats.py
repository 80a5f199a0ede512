"""CSV, JSON and JSON-lines renderings of reports and of request-log rows.

Money is exact in CSV and JSONL (the decimal string, e.g. ``0.0012500000``) and a JSON number in the JSON report
(floats on the wire, like every other endpoint). Date-times are ISO-8601.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from .requestlog import EXPORT_COLUMNS
from .service import Report


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def csv_lines(columns: Sequence[str], rows: Iterable[dict[str, Any]], *, header: bool = True) -> str:
    """CSV text for ``rows`` (one line per row, CRLF as RFC 4180 says), the header first when asked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_neutralise(_cell(row.get(c))) for c in columns])
    return buffer.getvalue()


def _neutralise(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: user-supplied text is prefixed with a quote.

    Numbers (``-1.5``) are left alone."""
    if text and text[0] in "=+-@\t\r":
        try:
            float(text)
            return text
        except ValueError:
            return "'" + text
    return text


def report_csv(report: Report) -> str:
    return csv_lines(report.columns, report.rows)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(type(value).__name__)


def jsonl_line(row: dict[str, Any]) -> bytes:
    """One JSON object per line; money as exact decimal strings."""
    return orjson.dumps(row, default=_default, option=orjson.OPT_UTC_Z) + b"\n"


async def export_stream(pages: AsyncIterator[list[dict[str, Any]]], fmt: str) -> AsyncIterator[bytes]:
    """A request-log export as CSV (header first) or JSON lines, one page of rows at a time."""
    if fmt == "csv":
        yield csv_lines(EXPORT_COLUMNS, []).encode()
    async for rows in pages:
        if fmt == "csv":
            yield csv_lines(EXPORT_COLUMNS, rows, header=False).encode()
        else:
            yield b"".join(jsonl_line(r) for r in rows)
