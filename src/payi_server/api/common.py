"""Small helpers shared by the REST routers."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

from fastapi import Request

from ..errors import ApiError
from ..state import AppState


def state(request: Request) -> AppState:
    return request.app.state.payi  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def parse_id(value: str, code: str, what: str) -> int:
    """Path ids are numeric strings; anything else is simply not found (never a 422 or a 500)."""
    if not value.isdigit() or len(value) > 18:
        # Not echoed: a caller may paste anything here, a key included.
        raise ApiError(404, code, f"{what} not found")
    return int(value)


def page(items: list[Any], cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "cursor": cursor}


MAX_PAGE = 1000


def paginate(items: list[Any], cursor: str | None, limit: int | None, sort_ascending: bool | None = True) -> dict[str, Any]:
    """Cursor paging over a sorted, bounded list (catalog listings): the cursor is an opaque offset."""
    if sort_ascending is False:
        items = list(reversed(items))
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_cursor", "The cursor is not one this server issued") from None
    size = min(max(limit or 100, 1), MAX_PAGE)
    chunk = items[start : start + size]
    end = start + len(chunk)
    next_cursor = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return {"items": chunk, "cursor": next_cursor}


def raw_segments(request: Request) -> list[str]:
    """The path's segments, each URL-decoded on its own: names holding '/' (sent as %2F) stay whole."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    return [unquote(part) for part in path.split("/")]
