"""POST-redirect-GET for every dashboard change: the POST stores a one-time message and answers 303; the page it
redirects to shows the message once (a reload shows it no more, and re-posts nothing).

A message may hold a secret shown once (a new key, a generated password). It is kept server-side in
``dashboard_flashes``, never in a URL or a cookie, sealed with the session's cookie token - which the server keeps
only as a hash - so a copy of the table reveals nothing: an HMAC-SHA256 keystream (counter mode, a random nonce
per message) XORed with the JSON, and an HMAC tag. A message is deleted as it is read (``DELETE ... RETURNING``:
of two concurrent reads one gets it) and ignored after ``FLASH_LIFETIME``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import delete, insert, select
from starlette.responses import RedirectResponse

from ..store.changes import utcnow
from ..store.tables import dashboard_flashes
from .accounts import WebUser
from .render import SECURITY_HEADERS
from .session import SESSION_COOKIE

FLASH_LIFETIME = timedelta(minutes=10)
_NONCE, _TAG = 16, 16


def _keys(token: str) -> tuple[bytes, bytes]:
    secret = token.encode()
    return (hmac.new(secret, b"payi flash: encrypt", hashlib.sha256).digest(),
            hmac.new(secret, b"payi flash: authenticate", hashlib.sha256).digest())


def _stream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def seal(token: str, payload: dict[str, Any]) -> str:
    """``payload`` as JSON, encrypted and authenticated with keys derived from the session token."""
    plain = orjson.dumps(payload)
    enc, mac = _keys(token)
    nonce = secrets.token_bytes(_NONCE)
    cipher = bytes(a ^ b for a, b in zip(plain, _stream(enc, nonce, len(plain)), strict=True))
    tag = hmac.new(mac, nonce + cipher, hashlib.sha256).digest()[:_TAG]
    return base64.b64encode(nonce + tag + cipher).decode()


def unseal(token: str, sealed: str) -> dict[str, Any] | None:
    """The payload, or None when the token is not the one it was sealed with (or the text was altered)."""
    try:
        raw = base64.b64decode(sealed.encode(), validate=True)
    except ValueError:
        return None
    nonce, tag, cipher = raw[:_NONCE], raw[_NONCE:_NONCE + _TAG], raw[_NONCE + _TAG:]
    enc, mac = _keys(token)
    if len(nonce) != _NONCE or not hmac.compare_digest(tag, hmac.new(mac, nonce + cipher, hashlib.sha256).digest()[:_TAG]):
        return None
    value = orjson.loads(bytes(a ^ b for a, b in zip(cipher, _stream(enc, nonce, len(cipher)), strict=True)))
    return value if isinstance(value, dict) else None


def _db(request: Request) -> Any:
    return request.app.state.payi.db


async def redirect_with(request: Request, user: WebUser, target: str, **message: Any) -> RedirectResponse:
    """Keep ``message`` (``notice``, ``new_keys``, ...) for the next page of this session; answer 303 ``target``."""
    token = request.cookies.get(SESSION_COOKIE, "")
    now = utcnow()
    async with _db(request).write() as conn:
        await conn.execute(delete(dashboard_flashes).where(dashboard_flashes.c.created_at < now - FLASH_LIFETIME))
        await conn.execute(
            insert(dashboard_flashes).values(session_id=user.session_id, sealed=seal(token, message), created_at=now)
        )
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


async def take_flash(request: Request, user: WebUser) -> dict[str, Any]:
    """The messages kept for this session (merged, oldest first), deleted as they are read; {} when none."""
    query = select(dashboard_flashes.c.id).where(dashboard_flashes.c.session_id == user.session_id)
    async with _db(request).read() as conn:
        if (await conn.execute(query.limit(1))).first() is None:
            return {}  # the common case: no write transaction
    async with _db(request).write() as conn:
        rows = (
            await conn.execute(
                delete(dashboard_flashes)
                .where(dashboard_flashes.c.session_id == user.session_id)
                .returning(dashboard_flashes.c.id, dashboard_flashes.c.sealed, dashboard_flashes.c.created_at)
            )
        ).all()
    token = request.cookies.get(SESSION_COOKIE, "")
    oldest = utcnow() - FLASH_LIFETIME
    merged: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: r.id):
        payload = unseal(token, row.sealed) if row.created_at >= oldest else None
        for key, value in (payload or {}).items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = [*merged[key], *value]
            else:
                merged[key] = value
    return merged
