"""The request dependency: every ``/api/v1`` route states which kinds of key may call it.

``AppKey``, ``OrgKey`` and ``AnyKey`` are the only ways a route obtains its caller. Each dependency carries a
``payi_access`` attribute; a test walks the whole route table and fails on any route that has none and is not
in ``PUBLIC_PATHS``.

Dashboard pages (``payi_server.web``) are not called with keys: their dependency carries a ``SessionAccess``
(a signed-in dashboard user of at least a role) instead, and they may not live under ``/api/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.routing import iter_route_contexts
from fastapi.security import APIKeyHeader

from ..errors import ApiError, api_error
from .cache import Principal
from .keys import KeyKind
from .throttle import key_source

API_KEY_HEADER = "xProxy-api-key"
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    | {"/login", "/logout", "/static"}  # the dashboard's sign-in, sign-out (checks its own session) and assets
)


@dataclass(frozen=True)
class SessionAccess:
    """A dashboard route: it admits a signed-in dashboard user whose role is at least ``role``."""

    role: Literal["viewer", "admin"]


Access = frozenset[KeyKind] | SessionAccess

# Declares the header in the OpenAPI document; the value is read (case-insensitively) below.
_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="PayiApiKey")

_KIND_NAMES = {KeyKind.APPLICATION: "an application key", KeyKind.ORGANIZATION: "an organization key"}


async def authenticate_request(request: Request | Any, kinds: frozenset[KeyKind]) -> Principal:
    """Authenticate the ``xProxy-api-key`` header of an ASGI request; raise 401, 403, or 429 for a bad key from
    an address that keeps presenting bad keys."""
    return await authenticate_key(request.scope, request.headers.get(API_KEY_HEADER), kinds)


async def authenticate_key(scope: Any, raw: str | None, kinds: frozenset[KeyKind]) -> Principal:
    """:func:`authenticate_request` for an ASGI scope and the key it was sent (the proxy reads its ``xProxy-*``
    headers in one pass, the key with them); the principal is set in the scope's state for the access log."""
    state = scope["app"].state.payi
    try:
        principal: Principal = await state.keys.authenticate(raw)
    except ApiError:
        # Only a bad or missing key counts, and only it is refused once its address ran out of failures: a
        # valid key is never throttled by anyone's failures (auth/throttle.py).
        state.metrics.auth_failures.inc()
        client = scope.get("client")
        try:
            await state.throttle.failed(key_source(client[0] if client else "unknown"))
        except ApiError:
            state.metrics.throttled.inc()
            raise
        raise
    if principal.kind not in kinds:
        wanted = " or ".join(_KIND_NAMES[k] for k in sorted(kinds))
        raise api_error("invalid_api_key_kind", wanted=wanted)
    scope.setdefault("state", {})["principal"] = principal
    return principal


def _requires(*kinds: KeyKind) -> Callable[..., Awaitable[Principal]]:
    allowed = frozenset(kinds)

    async def dependency(request: Request, _key: Annotated[str | None, Depends(_scheme)]) -> Principal:
        return await authenticate_request(request, allowed)

    dependency.payi_access = allowed  # type: ignore[attr-defined]
    return dependency


require_app_key = _requires(KeyKind.APPLICATION)
require_org_key = _requires(KeyKind.ORGANIZATION)
require_any_key = _requires(KeyKind.APPLICATION, KeyKind.ORGANIZATION)

AppKey = Annotated[Principal, Depends(require_app_key)]
OrgKey = Annotated[Principal, Depends(require_org_key)]
AnyKey = Annotated[Principal, Depends(require_any_key)]


def route_access(dependant: Any) -> Access | None:
    """The key kinds (or dashboard session) a FastAPI route admits, from its dependency tree (``None``: no auth)."""
    found = getattr(dependant.call, "payi_access", None)
    if found is not None:
        return found  # type: ignore[no-any-return]
    for sub in dependant.dependencies:
        found = route_access(sub)
        if found is not None:
            return found
    return None


def route_table(routes: Any) -> list[tuple[str, frozenset[str], Access | None]]:
    """Every route of an app as ``(path, methods, admitted key kinds)``; ``None`` means no key is asked for.

    FastAPI routes declare their kinds through ``AppKey``/``OrgKey``/``AnyKey``; plain Starlette endpoints (the
    proxy) carry a ``payi_access`` attribute.
    """
    table = []
    for ctx in iter_route_contexts(routes):
        route = ctx.original_route
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            access = route_access(dependant)
        else:
            access = getattr(getattr(route, "endpoint", None), "payi_access", None)
        table.append((str(ctx.path), frozenset(ctx.methods or ()), access))
    return table


def check_route_table(routes: Any) -> None:
    """Refuse to build an app in which a non-public route asks for no key."""
    table = route_table(routes)
    open_routes = [path for path, _m, access in table if access is None and path not in PUBLIC_PATHS]
    if open_routes:
        raise RuntimeError(f"routes without a declared key kind: {sorted(set(open_routes))}")
    misplaced = [path for path, _m, access in table if isinstance(access, SessionAccess) and path.startswith("/api/")]
    if misplaced:
        raise RuntimeError(f"dashboard (session) routes under /api/: {sorted(set(misplaced))}")
