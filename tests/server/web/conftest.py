from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest

from ...conftest import Running
from .helpers import new_client, signed_in

Login = Callable[..., Awaitable[httpx2.AsyncClient]]


@pytest.fixture
async def login(running: Running) -> AsyncIterator[Login]:
    """``await login(email, role="admin", org_id=None)``: a signed-in client (closed after the test)."""
    clients: list[httpx2.AsyncClient] = []

    async def make(email: str, role: str = "admin", org_id: int | None = None) -> httpx2.AsyncClient:
        client = await signed_in(running, email, role, org_id)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def browser(running: Running) -> AsyncIterator[httpx2.AsyncClient]:
    """A client with its own cookie jar, not signed in."""
    client = await new_client(running)
    yield client
    await client.aclose()
