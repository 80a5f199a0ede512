"""``/healthz`` (the process is up) and ``/readyz`` (the database answers). Both need no key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from ..errors import api_error

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state.payi
    if not state.settings.metrics:
        raise api_error("not_found", "metrics")
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    db = request.app.state.payi.db
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        raise api_error("database_unavailable", "health") from None
    return {"status": "ready", "database": db.dialect}
