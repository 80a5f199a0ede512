"""How the CLI shows things: secrets once and whole, everything else in tables that never cut a value.

A secret (a new key, a generated password) cannot be shown again, so it is written raw, alone on its own line,
after a line that says what it is: never in a table (a table cuts or wraps it to the terminal's width, and a
piped or 80-column output cut keys to ``payi_app_Y5Sm...``), never through rich (which wraps long words).
Tables fold a value that does not fit rather than cut it, and show date-times to the minute (UTC).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def show_secret(label: str, secret: str) -> None:
    """``label`` on one line, then ``secret`` alone on the next, whole, whatever the width or the pipe."""
    sys.stdout.write(f"{label}\n{secret}\n")
    sys.stdout.flush()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in "T ":
        try:
            return cell(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def _day(value: Any) -> str:
    return cell(value)[:10]


def key_row(key: dict[str, Any]) -> dict[str, Any]:
    """A key as one row of ``keys list`` that fits 80 columns: its state and dates in one ``status`` column."""
    if key.get("revoked_at"):
        status = f"revoked {_day(key['revoked_at'])}"
    elif key.get("expires_at"):
        expires = key["expires_at"]
        expires = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
        status = f"{'expires' if expires > datetime.now(UTC) else 'expired'} {_day(expires)}"
    else:
        status = "active"
    return {
        "key_id": key["key_id"],
        "kind": "app" if key["kind"] == "application" else "org",
        "app": key.get("app_id"),
        "slot": key.get("slot"),
        "prefix": key["prefix"],
        "status": status,
        "used": _day(key.get("last_used_at")),
    }


def show_table(console: Console, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    table = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for column in table.columns:
        column.overflow = "fold"  # never "…": a value that does not fit is folded onto the next line, whole
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    console.print(table)


def hide_flag_types() -> None:
    """typer's help shows a type for flags too (``--help <bool>``, ``--json <bool>``); a flag takes no value, so
    its type column is left empty. Idempotent."""
    from typer.core import TyperOption

    if getattr(TyperOption.display_type_rich, "payi_flags_hidden", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.payi_flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
