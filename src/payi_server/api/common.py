"""Small helpers shared by the REST routers."""

from __future__ import annotations

from typing import Any

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
