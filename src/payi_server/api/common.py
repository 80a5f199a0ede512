"""Small helpers shared by the REST routers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BeforeValidator, Field, Strict

from .. import jsonio
from ..errors import api_error
from ..ids import numeric_id
from ..state import AppState
from ..store.types import MAX_INT32, MAX_INT64


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float):  # pydantic would read a number as seconds (or ms) since 1970
        raise ValueError("must be an ISO-8601 date-time string")
    return value


def _in_utc_range(value: datetime) -> datetime:
    try:  # "0001-01-01T00:06:00+02:00" is before year 1 in UTC: converting it would raise OverflowError
        (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range in UTC") from None
    return value


# A date-time in a request (body or query): ISO-8601 text only, representable in UTC.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_in_utc_range)]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would read true as 1.0 (a $1 limit from {"max": true})
        raise ValueError("must be a number, not a boolean")
    return value


# An amount in a request body (a limit's max, a price, a goal): a number, never a boolean.
Number = Annotated[float, BeforeValidator(_not_bool)]
# Whole numbers in a request body, bounded to the column that stores them (a 32-bit INTEGER on PostgreSQL, or a
# 64-bit BIGINT): a larger one is the caller's 400, never the database's 500.
Int32 = Annotated[int, Field(ge=0, le=MAX_INT32)]
Int64 = Annotated[int, Field(ge=0, le=MAX_INT64)]
# A flag in a request body: true or false, not 0/1 or "yes"/"off" (which pydantic would read as booleans).
Flag = Annotated[bool, Strict()]


class _StrictJsonRequest(Request):
    """Request bodies read as strict JSON (orjson, as ingest reads them): the standard library would let a lone
    surrogate ("\\ud800", which no database can store: a 500) or NaN/Infinity through."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError is a json.JSONDecodeError: FastAPI answers it as invalid JSON.
            self._json = jsonio.loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """The route class of the REST routers that take JSON bodies (``APIRouter(route_class=JsonRoute)``)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Any:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict


def state(request: Request) -> AppState:
    return request.app.state.payi  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def parse_id(value: str, code: str, what: str) -> int:
    """Path ids are numeric strings; anything else is simply not found (never a 422 or a 500)."""
    number = numeric_id(value)
    if number is None:
        # Not echoed: a caller may paste anything here, a key included.
        raise api_error(code, "id", what=what)
    return number


def page(items: list[Any], cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "cursor": cursor}


MAX_PAGE = 1000


# --- opaque cursors (every list endpoint) ------------------------------------------------------
def encode_cursor(scope: str, key: int | str) -> str:
    """An opaque cursor: base64url of ``[scope, last sort key]``; the scope stops cursors crossing lists."""
    return base64.urlsafe_b64encode(orjson.dumps([scope, key])).decode().rstrip("=")


def decode_cursor(scope: str, cursor: str | None, kind: type[int] | type[str] = int) -> Any:
    """The sort key inside a cursor made by ``encode_cursor`` for ``scope`` (``None`` for no cursor)."""
    if not cursor:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        data = None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or data[0] != scope
        or not isinstance(data[1], kind)
        or isinstance(data[1], bool)
    ):
        raise api_error("invalid_cursor")
    return data[1]


def tag_validation_codes(target: APIRouter, codes: dict[Callable[..., Any], str]) -> None:
    """Give some routes their own code for body validation errors (see ``api.errors._validation_error``)."""
    for route in target.routes:
        code = codes.get(getattr(route, "endpoint", None))  # type: ignore[arg-type]
        if code:
            route.payi_validation_code = code  # type: ignore[attr-defined]



def paginate(
    items: list[Any], cursor: str | None, limit: int | None, sort_ascending: bool | None = True, scope: str = "list"
) -> dict[str, Any]:
    """Cursor paging over a sorted, bounded list (catalog listings): the cursor holds an offset."""
    if sort_ascending is False:
        items = list(reversed(items))
    start = decode_cursor(scope, cursor) or 0
    size = min(max(limit or 100, 1), MAX_PAGE)
    chunk = items[start : start + size]
    end = start + len(chunk)
    return {"items": chunk, "cursor": encode_cursor(scope, end) if end < len(items) else None}


def raw_segments(request: Request) -> list[str]:
    """The path's segments, each URL-decoded on its own: names holding '/' (sent as %2F) stay whole. A segment
    holding NUL names nothing (no name may hold one; PostgreSQL cannot even compare with one): 404."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    parts = [unquote(part) for part in path.split("/")]
    if any("\x00" in part for part in parts):
        raise api_error("not_found")
    return parts
