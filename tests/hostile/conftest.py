"""Shared pieces of the hostile-input tests: tenants (two applications of one organisation, and a second
organisation with its own application), the Pay-i error-body check, and table row counts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from payi_server.auth.keys import KeyHasher
from payi_server.auth.manage import Tenancy
from payi_server.settings import Settings, resolve_secret
from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.tables import metadata, organizations
from tests.conftest import bootstrap_database

# Tables whose rows a refused request must never touch (everything except the bookkeeping ones that every
# request, the key cache, or the brute-force throttle's failure counts may write).
# alert_limit_states: what the alerts loop last saw of each limit, written by it in the background
_VOLATILE = {"nodes", "change_log", "api_keys", "server_meta", "alembic_version", "auth_failures", "alert_limit_states"}


@dataclass(frozen=True)
class Tenants:
    """Organisation A (``org_a_key``) with applications A and B, and organisation B with application C."""

    org_a: int
    org_a_key: str
    app_a: str
    app_a_key: str
    app_b: str
    app_b_key: str
    org_b: int
    org_b_key: str
    app_c: str
    app_c_key: str


async def add_tenants(tenancy: Tenancy, db: Database, org_a: int, org_a_key: str, app_a: str, app_a_key: str) -> Tenants:
    """Application B next to A in organisation A, and organisation B with its key and application C."""
    app_b, keys_b = await tenancy.create_application(org_a, "app-b")
    async with db.write() as conn:
        org_b = (
            await conn.execute(organizations.insert().values(name="org-b", created_at=utcnow()).returning(organizations.c.id))
        ).scalar_one()
    org_b_key = (await tenancy.create_org_key(org_b, label="org-b")).plaintext
    app_c, keys_c = await tenancy.create_application(org_b, "app-c")
    return Tenants(
        org_a=org_a,
        org_a_key=org_a_key,
        app_a=str(app_a),
        app_a_key=app_a_key,
        app_b=str(app_b["app_id"]),
        app_b_key=keys_b[0].plaintext,
        org_b=org_b,
        org_b_key=org_b_key,
        app_c=str(app_c["app_id"]),
        app_c_key=keys_c[0].plaintext,
    )


def seed_tenants(settings: Settings) -> Tenants:
    """Migrate and bootstrap a database for a server that is not started yet; add the other tenants."""
    boot = asyncio.run(bootstrap_database(settings))

    async def more() -> Tenants:
        db = Database(settings.sqlalchemy_url, pool_size=2)
        try:
            tenancy = Tenancy(db, KeyHasher(resolve_secret(settings)))
            return await add_tenants(
                tenancy, db, boot.org_id, boot.org_key.plaintext, str(boot.app["app_id"]), boot.app_keys[0].plaintext
            )
        finally:
            await db.dispose()

    return asyncio.run(more())


def assert_payi_error(status: int, body: Any, *secrets: str) -> None:
    """The one error shape: ``{"statusCode", "message", "xproxy_error": {"code", "message"}}``, no key echoed."""
    assert isinstance(body, dict), body
    assert body.get("statusCode") == status, body
    assert isinstance(body.get("message"), str) and body["message"], body
    error = body.get("xproxy_error")
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body
    assert set(body) <= {"statusCode", "message", "xproxy_error", "xproxy_result"}, body
    text = repr(body)
    assert "Traceback" not in text and 'File "' not in text, body
    for secret in secrets:
        if secret:
            assert secret not in text, "a key was echoed in an error body"


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per table (the bookkeeping tables left out)."""
    tables = [t for t in metadata.sorted_tables if t.name not in _VOLATILE]
    query = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    async with db.read() as conn:
        row = (await conn.execute(query)).one()
    return dict(row._mapping)


def row_counts_of(settings: Settings) -> dict[str, int]:
    """``row_counts`` from a thread that has no event loop of its own (sync tests against a live server)."""

    async def run() -> dict[str, int]:
        db = Database(settings.sqlalchemy_url, pool_size=1)
        try:
            return await row_counts(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


# --- raw ASGI calls (bytes a real HTTP parser would refuse: CR/LF/NUL in headers, odd paths) -----------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


async def asgi_call(
    app: Any,
    method: str,
    raw_path: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    *,
    query: bytes = b"",
    chunked: bool = False,
    client: tuple[str, int] = ("127.0.0.1", 40000),
) -> Answer:
    """One request straight into the ASGI app: the path and header bytes arrive exactly as given."""
    from urllib.parse import unquote_to_bytes

    headers = list(headers or [])
    if body and not chunked and not any(k.lower() == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape"),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": [(k.lower(), v) for k, v in headers],
        "client": client,
        "server": ("payi.test", 80),
    }
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)] if chunked else [body]
    done = asyncio.Event()
    status = 0
    out_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if pieces:
            piece = pieces.pop(0)
            return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.update({k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    done.set()
    return Answer(status, out_headers, b"".join(chunks))


# --- little upstreams: a canary that must never be reached, and a redirector --------------------------------
class Canary:
    """An ASGI app that records every request it gets (a stand-in for an internal service)."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.hits.append(scope["path"])
        body = b'{"secret": "internal"}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class Redirector:
    """An upstream that answers every request with ``302`` to ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.hits = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.hits += 1
        body = b'{"error": "moved"}'
        await send({"type": "http.response.start", "status": 302,
                    "headers": [(b"location", self.target.encode()), (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# The proxy tests' fixtures (a fake upstream and our server on real ports), for the proxy fuzz here.
from tests.server.proxy.conftest import fake_config, proxy_env  # noqa: E402,F401
