"""``GET /api/v1/whoami``: which key is calling (any kind). Lets a client check a key without side effects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..auth.dependency import AnyKey
from . import schemas as doc
from .common import request_id
from .openapi import answers

router = APIRouter(prefix="/api/v1", tags=["keys"])


@router.get("/whoami", **answers(doc.WhoAmI))
async def whoami(principal: AnyKey, request: Request) -> dict[str, Any]:
    return {
        "key_id": str(principal.key_id),
        "kind": principal.kind.value,
        "app_id": str(principal.app_id) if principal.app_id is not None else None,
        "app_name": principal.app_name,
        "request_id": request_id(request),
    }
