"""``/healthz`` (the process is up) and ``/readyz`` (the database answers). Both need no key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from ..errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    db = request.app.state.payi.db
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        raise ApiError(503, "database_unavailable", "The database is not reachable") from None
    return {"status": "ready", "database": db.dialect}
